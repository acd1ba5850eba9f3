/* The weft command: version, help and the cluster verbs (start, status,
 * stop: cli/cluster_cmds.h). The hidden "weft worker" command is how the
 * runtime starts worker processes that run a user's shared library. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "cli/cluster_cmds.h"
#include "cli/csv_cmd.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: weft <command> [options]\n"
        "\n"
        "commands:\n"
        "  start --head [--host H] [--port P] [--token-file F] [--tls]\n"
        "               [--num-cpus N] [--resources R] [--session-dir D]\n"
        "            start a head daemon on H:P (default 127.0.0.1:6380;\n"
        "            port 0: any free port) with a node of its own\n"
        "  start --address HOST:PORT --token-file F [--host H] [--port P]\n"
        "               [--name N] [--num-cpus N] [--resources R] [--tls]\n"
        "               [--session-dir D]\n"
        "            start a node that joins the head at HOST:PORT; it runs\n"
        "            tasks on H:P (default: the address it reaches the\n"
        "            head from, any port). R: custom resources, gpu=1,fpga=2\n"
        "  status [--session-dir D] [--address HOST:PORT] "
        "[--token-file F] [--tls]\n"
        "            list the nodes: resources, load, drivers connected\n"
        "  stop [--session-dir D]\n"
        "            stop the session's daemons (node, then head)\n"
        "  csv FILE_OR_GLOB... [--filter EXPR] [--eval \"NAME = EXPR\"]...\n"
        "               [--select COL,...] [--groupby COL,... --agg "
        "\"FUNC(COL),...\"]\n"
        "               [--sort [-]COL,...] [--head N] [--output OUT.csv]\n"
        "               [--format table|csv]\n"
        "            query CSV files (FUNC: sum mean count min max std size;\n"
        "            see docs/dataframes.md)\n"
        "  version   print the weft and wire protocol versions\n"
        "  help      print this help\n"
        "\n"
        "The session directory (default $WEFT_SESSION_DIR, else\n"
        "/tmp/weft-<uid>) holds the cluster token (token, unless\n"
        "--token-file), head.pid, head.addr, head.log, node.pid,\n"
        "node.log and cache/ (programs shipped by drivers).\n\n"
        "A program runs on the cluster when given its address:\n"
        "  WEFT_ADDRESS=HOST:PORT WEFT_TOKEN_FILE=F ./program\n"
        "--tls (or WEFT_TLS=1) encrypts all cluster traffic; every daemon\n"
        "and program of the cluster must use it (programs and weft status\n"
        "on the head's machine find out from its session directory).\n");
}

static int version(void)
{
    printf("weft %s (wire protocol %d)\n", WEFT_VERSION_STRING,
           WEFT_WIRE_VERSION);
    return 0;
}

/* weft worker --library PATH: load the user's library, whose constructors
 * register its task functions and actor classes, then become a worker. */
static int worker(int argc, char **argv)
{
    const char *library = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--library") == 0) {
            if (i + 1 == argc) {
                fprintf(stderr, "weft worker: --library needs a path\n");
                return 2;
            }
            library = argv[++i];
        } else if (strncmp(argv[i], "--library=", 10) == 0) {
            library = argv[i] + 10;
        } else {
            fprintf(stderr, "weft worker: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!library) {
        fprintf(stderr, "usage: weft worker --library PATH\n");
        return 2;
    }
    if (!dlopen(library, RTLD_NOW | RTLD_GLOBAL)) {
        fprintf(stderr, "weft worker: %s\n", dlerror());
        return 1;
    }

    /* When the runtime that started us says we are its worker, this serves
     * tasks and never returns. */
    weft_worker_check();
    fprintf(stderr, "weft worker: not started by a weft runtime\n");
    return 1;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "help";

    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return version();
    if (strcmp(cmd, "start") == 0)
        return wf_cli_start(argc - 2, argv + 2);
    if (strcmp(cmd, "status") == 0)
        return wf_cli_status(argc - 2, argv + 2);
    if (strcmp(cmd, "stop") == 0)
        return wf_cli_stop(argc - 2, argv + 2);
    if (strcmp(cmd, "csv") == 0)
        return wf_cli_csv(argc - 2, argv + 2);
    if (strcmp(cmd, "worker") == 0)
        return worker(argc - 2, argv + 2);

    fprintf(stderr,
            "weft: unknown command '%s'\n"
            "Run 'weft help' for the list of commands.\n",
            cmd);
    return 2;
}
