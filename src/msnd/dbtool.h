/* dbtool.h - `msnd db ...`: database commands that need no running server. */
#ifndef MSND_DBTOOL_H
#define MSND_DBTOOL_H

/* argv[0] is "db". Returns the process exit status. */
int dbtool_main(int argc, char **argv);

#endif
