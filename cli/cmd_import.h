/* cmd_import.h — `horizon import FILE.csv --db FILE.sqlite ...`: loads a CSV into the
 * readings table (DESIGN.md, "Programs"). */
#ifndef HZ_CMD_IMPORT_H
#define HZ_CMD_IMPORT_H

/* argv[0] is "import".  Returns the process exit status: 0 all rows imported, 1 some rows
 * were bad (skipped, reported and kept as dead letters) or the import failed, 2 usage. */
int hz_cmd_import(int argc, char **argv);

#endif
