/* The message type table: see msgtypes.h. */
#include "msgtypes.h"

#include <string.h>

const char *msg_type_name(uint32_t type)
{
	switch (type) {
#define MSG_TYPE_NAME(name, num, roles)                                                  \
	case num:                                                                        \
		return #name;
		MSG_TYPE_MAP(MSG_TYPE_NAME)
#undef MSG_TYPE_NAME
	}
	return NULL;
}

int msg_type_roles(uint32_t type)
{
	switch (type) {
#define MSG_TYPE_ROLES(name, num, roles)                                                 \
	case num:                                                                        \
		return roles;
		MSG_TYPE_MAP(MSG_TYPE_ROLES)
#undef MSG_TYPE_ROLES
	}
	return 0;
}

int msg_sender_role(const char *sender)
{
	if (strcmp(sender, "master") == 0)
		return ROLE_MASTER;
	if (strncmp(sender, "worker", 6) == 0)
		return ROLE_WORKER;
	if (strncmp(sender, "client", 6) == 0)
		return ROLE_LOOK;
	return 0;
}

const char *msg_role_name(int role)
{
	switch (role) {
	case ROLE_MASTER:
		return "master";
	case ROLE_WORKER:
		return "worker";
	case ROLE_CLIENT:
		return "operator";
	case ROLE_READER:
		return "reader";
	}
	return "?";
}
