/* The cluster verbs of the weft command: start (a head daemon), status,
 * stop. Each takes the arguments after its verb and returns the exit
 * status (0 ok, 1 failure, 2 bad usage).
 *
 * A session directory (--session-dir, else $WEFT_SESSION_DIR, else
 * /tmp/weft-<uid>, mode 0700) holds what the verbs share: token (the
 * cluster token, unless --token-file), head.pid, head.addr ("HOST:PORT")
 * and head.log (the daemon's output). */
#ifndef WF_CLI_CLUSTER_CMDS_H
#define WF_CLI_CLUSTER_CMDS_H

/* weft start --head [--host H] [--port P] [--token-file F]
 *                   [--session-dir D]: fork a head daemon and wait until
 * it listens with its own node joined. */
int wf_cli_start(int argc, char **argv);

/* weft status [--session-dir D] [--address HOST:PORT] [--token-file F]:
 * print the head's node table. */
int wf_cli_status(int argc, char **argv);

/* weft stop [--session-dir D]: SIGTERM the session's head and wait for it
 * to exit. */
int wf_cli_stop(int argc, char **argv);

#endif
