/* cmd_model.h — the model subcommands of `horizon` (train, eval, forecast).  Each takes
 * main's argc/argv shifted so argv[0] is the subcommand name, prints its own usage and
 * errors, and returns the process exit code (0 success, 1 failure, 2 usage). */
#ifndef HZ_CMD_MODEL_H
#define HZ_CMD_MODEL_H

int hz_cmd_train(int argc, char **argv);
int hz_cmd_eval(int argc, char **argv);
int hz_cmd_forecast(int argc, char **argv);

#endif
