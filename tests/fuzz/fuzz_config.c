/*
 * libFuzzer target for the configuration parser (SPEC §11): the input is
 * loaded as a properties file (strict and with job keys) and, line by line,
 * given as --conf key=value pairs, both to the configuration directly and
 * as command-line arguments through proc_conf_arg ("--conf k=v",
 * "--conf=k=v", "-c k=v"), the way every binary reads them. Errors are expected; crashes,
 * undefined behaviour and leaks are not.
 */
#include "alloc.h"
#include "config.h"
#include "proc.h"
#include "sluice/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void load_file(const uint8_t *data, size_t size, int flags)
{
	char err[512];
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return;
	fwrite(data, 1, size, f);
	fclose(f);
	sl_conf *c = conf_new(flags);
	conf_load_file(c, path, err, sizeof(err));
	conf_free(c);
}

static void set_lines(const uint8_t *data, size_t size)
{
	char err[512];
	char *text = sl_strndup((const char *)data, size);
	sl_conf *c = conf_new(CONF_APP_KEYS);
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		conf_set_kv(c, l, err, sizeof(err));
		char joined[4200];
		snprintf(joined, sizeof(joined), "--conf=%s", l);
		char *forms[][3] = {
		    {"prog", "--conf", l}, {"prog", joined, NULL}, {"prog", "-c", l}};
		for (int f = 0; f < 3; f++) {
			int i = 1, argc = forms[f][2] ? 3 : 2;
			proc_conf_arg(c, argc, forms[f], &i, err, sizeof(err));
		}
	}
	conf_free(c);
	sl_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t live = alloc_live();
	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/sluice-fuzz-config-%d.properties",
		         (int)getpid());
	load_file(data, size, CONF_STRICT);
	load_file(data, size, CONF_APP_KEYS);
	set_lines(data, size);
	if (alloc_live() != live) {
		fprintf(stderr, "allocation counter moved\n");
		abort();
	}
	return 0;
}
