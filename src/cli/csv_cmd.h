/* weft csv: a query over CSV files from the shell (see csv_cmd.c). */
#ifndef WF_CLI_CSV_CMD_H
#define WF_CLI_CSV_CMD_H

/* Run `weft csv` with the arguments after the verb; the exit status
 * (0, 1: failed, 2: a bad query or usage). */
int wf_cli_csv(int argc, char **argv);

#endif
