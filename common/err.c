/* Strings for sl_err, generated from the same X-macro as the enum. */
#include "sluice/err.h"

const char *sl_strerror(int err)
{
	switch (err) {
#define SL_ERR_STR(name, val, str)                                                       \
	case val:                                                                        \
		return str;
		SL_ERR_MAP(SL_ERR_STR)
#undef SL_ERR_STR
	}
	return "unknown error";
}

const char *sl_errname(int err)
{
	switch (err) {
#define SL_ERR_NAME(name, val, str)                                                      \
	case val:                                                                        \
		return #name;
		SL_ERR_MAP(SL_ERR_NAME)
#undef SL_ERR_NAME
	}
	return "SL_E?";
}
