/*
 * cmd_recovery.c - recovery split / combine.
 */
#include "cli.h"

int
cmd_recovery(struct cli *c)
{
	return cmd_unimplemented(c);
}
