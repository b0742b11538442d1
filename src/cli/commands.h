/* The certgate subcommands. Each takes the arguments after its name (argv[0] is the
 * subcommand name) and returns the process exit status. Main thread only. */
#ifndef CERTGATE_CLI_COMMANDS_H
#define CERTGATE_CLI_COMMANDS_H

int cmd_verify(int argc, char **argv);
int cmd_pki(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
