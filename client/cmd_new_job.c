/*
 * sluice new-job NAME [--dir DIR]: writes a job skeleton for job authors.
 *
 * A new author's first hurdle is the build, not the API: how to find the
 * headers, that a job is a -shared -fPIC module with nothing to link. This
 * command writes a directory (default ./NAME) with NAME.c (a complete,
 * runnable job: its own generator and filter functions plus built-ins, so
 * its output is exactly predictable), a Makefile and a CMakeLists.txt that
 * both find the installed headers through pkg-config (sluice.pc), and a
 * README saying how to build and run it. The files are made from the
 * templates below with every "@NAME@" replaced by NAME, which is therefore
 * restricted to a C identifier (it prefixes the job's exported functions)
 * not starting with "sl_" (the built-ins' prefix). Nothing is overwritten:
 * an existing directory is refused.
 */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN 64

static const char job_c[] =
    "/*\n"
    " * @NAME@: a Sluice streaming job (skeleton made by `sluice new-job`).\n"
    " *\n"
    " * Every batch, a generator makes gen.rate lines per second of batch\n"
    " * interval (line i: \"apple|banana|cherry even|odd\", by i mod 3 and i mod 2);\n"
    " * the words are split, \"odd\" is filtered out, and the words are counted.\n"
    " * With gen.rate=600 and 1 s batches every batch prints exactly\n"
    " *     apple 200, banana 200, cherry 200, even 300.\n"
    " * Replace the generator with a real source (sl_socket_text_stream,\n"
    " * sl_text_file_stream, sl_kafka_direct_stream) and go on from there:\n"
    " * docs/job-api.md.\n"
    " *\n"
    " * Build:  make            (or: cmake -S . -B build && cmake --build build)\n"
    " * Run:    sluice standalone ./@NAME@.so --duration 5s --conf gen.rate=600\n"
    " */\n"
    "#include <sluice/sluice.h>\n"
    "\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "\n"
    "/* Generator: record `index` of the batch at batch_time_ms, exactly one. */\n"
    "int @NAME@_line(int64_t batch_time_ms, int64_t index, sl_emitter *out)\n"
    "{\n"
    "\tstatic const char *const fruit[] = {\"apple\", \"banana\", \"cherry\"};\n"
    "\tchar line[64];\n"
    "\tint n = snprintf(line, sizeof(line), \"%s %s\", fruit[index % 3],\n"
    "\t                 index % 2 ? \"odd\" : \"even\");\n"
    "\treturn sl_emit(out, NULL, 0, line, (size_t)n, batch_time_ms);\n"
    "}\n"
    "\n"
    "/* Filter: 1 keeps a word, 0 drops it. */\n"
    "int @NAME@_keep(const sl_record *in)\n"
    "{\n"
    "\treturn !(in->value_len == 3 && memcmp(in->value, \"odd\", 3) == 0);\n"
    "}\n"
    "\n"
    "int sluice_job_define(sl_ctx *ctx)\n"
    "{\n"
    "\tlong long rate = atoll(sl_conf_get(ctx, \"gen.rate\", \"600\"));\n"
    "\n"
    "\tsl_stream *lines = sl_generator_stream(ctx, \"@NAME@_line\", rate, 2);\n"
    "\tsl_stream *words = sl_flat_map(lines, \"sl_split_words\");\n"
    "\tsl_stream *kept = sl_filter(words, \"@NAME@_keep\");\n"
    "\tsl_stream *pairs = sl_map_to_pair(kept, \"sl_pair_one\");\n"
    "\tsl_stream *counts = sl_reduce_by_key(pairs, \"sl_sum_i64\", 0);\n"
    "\tsl_print(sl_with_value_format(counts, SL_FORMAT_I64), 10);\n"
    "\treturn 0;\n"
    "}\n";

static const char makefile[] =
    "# Builds @NAME@.so against the installed Sluice headers, found with\n"
    "# pkg-config (sluice.pc). Sluice installed under a prefix pkg-config does\n"
    "# not search? make PKG_CONFIG_PATH=PREFIX/share/pkgconfig\n"
    "CC ?= cc\n"
    "CFLAGS ?= -O2 -g -Wall -Wextra\n"
    "PKG_CONFIG ?= pkg-config\n"
    "\n"
    "ifneq ($(shell $(PKG_CONFIG) --exists sluice && echo yes),yes)\n"
    "$(error pkg-config finds no sluice: install Sluice, or set "
    "PKG_CONFIG_PATH=PREFIX/share/pkgconfig)\n"
    "endif\n"
    "SLUICE_CFLAGS := $(shell $(PKG_CONFIG) --cflags sluice)\n"
    "\n"
    "@NAME@.so: @NAME@.c\n"
    "\t$(CC) -std=c11 $(CFLAGS) $(SLUICE_CFLAGS) -shared -fPIC -o $@ $<\n"
    "\n"
    "clean:\n"
    "\trm -f @NAME@.so\n"
    "\n"
    ".PHONY: clean\n";

static const char cmakelists[] =
    "# Builds @NAME@.so against the installed Sluice headers (pkg-config sluice).\n"
    "# Sluice under another prefix: cmake -DCMAKE_PREFIX_PATH=PREFIX ...\n"
    "cmake_minimum_required(VERSION 3.13)\n"
    "project(@NAME@ C)\n"
    "\n"
    "find_package(PkgConfig REQUIRED)\n"
    "pkg_check_modules(SLUICE REQUIRED IMPORTED_TARGET sluice)\n"
    "\n"
    "# A job is a module loaded by sluice-worker, which provides every sl_*\n"
    "# function: nothing to link.\n"
    "add_library(@NAME@ MODULE @NAME@.c)\n"
    "set_target_properties(@NAME@ PROPERTIES PREFIX \"\" C_STANDARD 11)\n"
    "target_link_libraries(@NAME@ PRIVATE PkgConfig::SLUICE)\n";

static const char readme[] =
    "# @NAME@\n"
    "\n"
    "A Sluice job made by `sluice new-job @NAME@`.\n"
    "\n"
    "    make                      # or: cmake -S . -B build && cmake --build build\n"
    "    sluice standalone ./@NAME@.so --duration 5s --conf gen.rate=600\n"
    "    sluice submit ./@NAME@.so --name @NAME@   # on a running cluster\n"
    "\n"
    "Every batch prints apple 200, banana 200, cherry 200, even 300.\n";

/* Writes tmpl to dir/file with every "@NAME@" replaced by name. */
static int write_file(const char *dir, const char *file, const char *tmpl,
                      const char *name, int mode)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		fprintf(stderr, "sluice new-job: cannot create %s: %s\n", path,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_ERR;
	}
	for (const char *p = tmpl; *p != '\0';) {
		const char *at = strstr(p, "@NAME@");
		size_t n = at != NULL ? (size_t)(at - p) : strlen(p);
		fwrite(p, 1, n, f);
		if (at == NULL)
			break;
		fputs(name, f);
		p = at + 6;
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "sluice new-job: writing %s: %s\n", path,
		        strerror(errno));
		return EXIT_ERR;
	}
	printf("  %s\n", path);
	return EXIT_OK;
}

/* A job name: a C identifier, at most NAME_MAX_LEN, not starting with sl_. */
static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > NAME_MAX_LEN || isdigit((unsigned char)name[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return 0;
	return strncmp(name, "sl_", 3) != 0;
}

static int new_job_run(client *c, int argc, char **argv)
{
	const char *name = NULL, *dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else {
			fprintf(stderr, "sluice new-job: unexpected argument '%s'\n%s",
			        argv[i], cmd_new_job.usage);
			return EXIT_USAGE;
		}
	}
	if (name == NULL) {
		fprintf(stderr, "%s", cmd_new_job.usage);
		return EXIT_USAGE;
	}
	if (!name_ok(name)) {
		fprintf(
		    stderr,
		    "sluice new-job: bad job name '%s': use a C identifier (letters, "
		    "digits, '_', not starting with a digit or \"sl_\", at most %d)\n",
		    name, NAME_MAX_LEN);
		return EXIT_USAGE;
	}
	if (dir == NULL)
		dir = name;
	if (mkdir(dir, 0755) != 0) {
		fprintf(stderr, "sluice new-job: cannot create directory %s: %s%s\n", dir,
		        strerror(errno),
		        errno == EEXIST ? " (nothing is overwritten: pick another --dir)"
		                        : "");
		return EXIT_ERR;
	}
	printf("sluice new-job: writing job '%s' into %s/\n", name, dir);
	char file[NAME_MAX_LEN + 8];
	snprintf(file, sizeof(file), "%s.c", name);
	if (write_file(dir, file, job_c, name, 0644) != EXIT_OK ||
	    write_file(dir, "Makefile", makefile, name, 0644) != EXIT_OK ||
	    write_file(dir, "CMakeLists.txt", cmakelists, name, 0644) != EXIT_OK ||
	    write_file(dir, "README.md", readme, name, 0644) != EXIT_OK)
		return EXIT_ERR;
	printf("build it with: make -C %s   (or cmake -S %s -B %s/build && cmake --build "
	       "%s/build)\n",
	       dir, dir, dir, dir);
	return EXIT_OK;
}

const client_cmd cmd_new_job = {
    .name = "new-job",
    .summary = "write a job skeleton (C file, Makefile, CMakeLists.txt)",
    .usage =
        "usage: sluice new-job NAME [--dir DIR]\n"
        "Writes a runnable job skeleton into DIR (default ./NAME, which must not\n"
        "exist): NAME.c, a Makefile and a CMakeLists.txt that build NAME.so against\n"
        "the installed Sluice headers via pkg-config (sluice.pc), and a README.\n"
        "NAME must be a C identifier not starting with \"sl_\".\n",
    .run = new_job_run,
    .needs_master = 0,
};
