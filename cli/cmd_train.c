/* cmd_train.c — `horizon train`: the pipeline's data, split and scaled as in the papers
 * (docs/MODELS.md), trained with early stopping, written as a safetensors checkpoint
 * (config, scaler, variables, period, metrics, validation residual quantiles) and registered
 * in the SQLite `models` table unless it is a --max-batches probe run.  When
 * model.checkpoint exists (the file horizond serves), the new checkpoint is versioned
 * beside it (`<name>.<UTC time>.safetensors`) and the served file is left alone unless
 * --promote (docs/MODELS.md, "Checkpoint versions").  The work is training/trainer.c's
 * hz_trainer_run; this file parses the command line, picks the paths, turns Ctrl-C into a
 * stop request and prints the summary. */
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/hz.h"
#include "models/checkpoint.h"
#include "training/disagg.h"
#include "training/trainer.h"

#define CMD "train"

typedef struct train_args {
    hz_cli_model_args m;
    int epochs;      /* -1: model.train.epochs */
    int max_batches; /* 0: every batch */
    int threads;     /* 0: model.train.threads */
    int repeat;      /* -1: every repeat */
    int resume;
    int promote;           /* 1: the new checkpoint also replaces model.checkpoint */
    const char *appliance; /* task disaggregate: the one appliance to train; NULL: each */
    int plain;             /* task disaggregate: the plain-transformer baseline instead */
} train_args;

static void usage(FILE *f)
{
    fprintf(f, "usage: horizon train -c FILE.yaml [options]\n"
               "\n"
               "Trains the pipeline's model on its source (CSV, or one series of an SQLite\n"
               "readings table) with the papers' split and scaling, writes the checkpoint\n"
               "and registers it in the database's models table (a --max-batches probe run\n"
               "is not registered).  With train.repeats N > 1 it trains N runs (seeds\n"
               "seed..seed+N-1) and serves the one with the lowest validation loss;\n"
               "--repeat K trains run K only.\n"
               "Ctrl-C (SIGINT or SIGTERM) ends training after the running epoch and keeps the\n"
               "best weights so far; a second one aborts without writing a checkpoint.\n"
               "After every epoch the run's state (weights, optimiser, random generators) is\n"
               "saved to CHECKPOINT.state; --resume continues a run that was stopped, aborted\n"
               "or killed from its last finished epoch, to the same result as a run never\n"
               "interrupted.  The state is removed once the run has written its checkpoint.\n"
               "\n"
               "options:\n"
               "  -c, --config FILE    the configuration (required)\n"
               "  -p, --pipeline NAME  the pipeline to train (default: the file's first)\n"
               "  -s, --series S       SQLite source: the series to train on (default: the\n"
               "                       one with the most readings)\n"
               "  --checkpoint PATH    write the checkpoint here (default: model.checkpoint\n"
               "                       when it does not exist yet; else a new version beside\n"
               "                       it, NAME.<UTC time>.safetensors, registered, and the\n"
               "                       served file is left as it is)\n"
               "  --promote            also copy the new version over model.checkpoint (the\n"
               "                       file horizond serves; a running daemon loads it when the\n"
               "                       pipeline restarts)\n"
               "  --epochs N           epochs, at least 1 (default: model.train.epochs)\n"
               "  --max-batches N      stop every epoch after N batches: a quick probe run,\n"
               "                       its checkpoint written but not registered\n"
               "  --threads N          threads, at least 1 (default: model.train.threads)\n"
               "  --repeat K           with train.repeats N > 1: train run K (0..N-1) only\n"
               "  --resume             continue the run saved in CHECKPOINT.state\n"
               "  --appliance NAME     task disaggregate: train this appliance's model only\n"
               "                       (default: one model per model.data.appliances item,\n"
               "                       in turn, each its own CHECKPOINT stem.NAME.safetensors)\n"
               "  --plain              task disaggregate: train NILMFormer's baseline instead, a\n"
               "                       plain transformer of the same parameter count (the same\n"
               "                       encoder layers and head, a Linear embedding and sinusoid\n"
               "                       positions, no TimeRPE nor window statistics; d_ff chosen\n"
               "                       to match, docs/MODELS.md 8.10), into CHECKPOINT\n"
               "                       stem.plain.NAME.safetensors, where `horizon eval` finds\n"
               "                       it and prints its scores beside the model's\n"
               "  -h, --help           this text\n");
}

static int parse(int argc, char **argv, train_args *a, char *err, size_t errlen)
{
    *a = (train_args){.epochs = -1, .repeat = -1};
    const hz_cli_opt opts[] = {HZ_CLI_MODEL_OPTS(&a->m),
                               {"epochs", 0, HZ_CLI_INT, &a->epochs, 1, INT_MAX},
                               {"max-batches", 0, HZ_CLI_INT, &a->max_batches, 1, INT_MAX},
                               {"threads", 0, HZ_CLI_INT, &a->threads, 1, INT_MAX},
                               {"repeat", 0, HZ_CLI_INT, &a->repeat, 0, INT_MAX},
                               {"resume", 0, HZ_CLI_FLAG, &a->resume, 0, 0},
                               {"promote", 0, HZ_CLI_FLAG, &a->promote, 0, 0},
                               {"appliance", 0, HZ_CLI_STR, &a->appliance, 0, 0},
                               {"plain", 0, HZ_CLI_FLAG, &a->plain, 0, 0},
                               {NULL, 0, 0, NULL, 0, 0}};
    int rc = hz_cli_parse(argc, argv, opts, NULL, err, errlen);
    if (!rc && !a->m.config)
        rc = hz_err(err, errlen, HZ_EINVAL, "-c FILE.yaml is required");
    if (!rc && a->promote && a->m.checkpoint)
        rc = hz_err(err, errlen, HZ_EINVAL,
                    "--promote replaces model.checkpoint: it does not go with --checkpoint");
    return rc;
}

/* SIGINT / SIGTERM during `horizon train`: the first ends training after the running epoch
 * as an early stop would (best weights calibrated, written and registered; the run's state
 * kept for --resume), the second aborts without a checkpoint (the state of the last
 * finished epoch stays), a third kills. */
static atomic_int g_train_stop, g_train_cancel;

#define SAY_RAW(lit) say_raw(lit, sizeof lit - 1)
static void say_raw(const char *msg, size_t len)
{
    ssize_t n = write(STDERR_FILENO, msg, len); /* async-signal-safe */
    (void)n;
}

static void on_signal(int sig)
{
    if (!atomic_exchange(&g_train_stop, 1)) {
        SAY_RAW("\nhorizon " CMD ": stopping after this epoch, best weights kept (again to "
                "abort)\n");
        return;
    }
    atomic_store(&g_train_cancel, 1);
    SAY_RAW("\nhorizon " CMD ": aborting, no checkpoint written\n");
    signal(sig == SIGINT ? SIGTERM : SIGINT, SIG_DFL);
    signal(sig, SIG_DFL);
}

/* Where a run writes: the --checkpoint given, else model.checkpoint while it does not exist,
 * else a new version beside it.  The paths of a run's state and repeats stay the served
 * file's (base), so --resume and --repeat find them from one invocation to the next. */
typedef struct train_paths {
    const char *served; /* model.checkpoint */
    const char *write;  /* where the checkpoint goes */
    const char *base;   /* NULL, or the path whose .state and .r<K> files the run uses */
    char version[1100];
} train_paths;

/* "<served minus .safetensors>.<YYYYmmddTHHMMSSZ>[-K].safetensors", a name not taken. */
static void version_path(const char *served, char *out, size_t n)
{
    static const char ext[] = ".safetensors";
    int stem = (int)hz_ckpt_stem(served);
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    snprintf(out, n, "%.*s.%s%s", stem, served, stamp, ext);
    for (int k = 2; access(out, F_OK) == 0 && k < 1000; k++)
        snprintf(out, n, "%.*s.%s-%d%s", stem, served, stamp, k, ext);
}

static void pick_paths(const train_args *a, const hz_pipeline_conf *p, train_paths *tp)
{
    tp->served = p->model.checkpoint;
    tp->base = NULL;
    if (a->m.checkpoint) {
        tp->write = a->m.checkpoint;
        return;
    }
    tp->write = tp->served;
    if (access(tp->served, F_OK) != 0)
        return; /* the first model: nothing is replaced */
    version_path(tp->served, tp->version, sizeof tp->version);
    tp->write = tp->version;
    tp->base = tp->served;
}

/* After a run that wrote a new version: says the served file was kept, or with --promote
 * copies the version over it.  Returns 0 or HZ_EIO. */
static int finish_version(const train_args *a, const train_paths *tp)
{
    if (!tp->base || access(tp->write, F_OK) != 0)
        return 0; /* no version written (the first model, or repeats still to train) */
    if (!a->promote) {
        fprintf(stderr,
                "horizon " CMD ": %s is served and was kept; the new checkpoint is %s "
                "(`horizon " CMD " --promote` replaces the served file)\n",
                tp->served, tp->write);
        return 0;
    }
    char err[HZ_ERRLEN];
    if (hz_checkpoint_copy(tp->write, tp->served, err, sizeof err)) {
        hz_cli_error(CMD, "--promote: %s", err);
        return HZ_EIO;
    }
    fprintf(stderr,
            "horizon " CMD ": promoted %s over %s (a running horizond serves it once the "
            "pipeline restarts)\n",
            tp->write, tp->served);
    return 0;
}

/* The lines a finished run prints on stdout: the checkpoint, a stop note, the metrics. */
static void print_summary(const train_args *a, const hz_pipeline_conf *p, const char *path,
                          const hz_train_summary *sum)
{
    char rpath[1100];
    int repeats = p->model.train.repeats;
    if (a->repeat >= 0 && repeats > 1) {
        hz_repeat_path(path, a->repeat, rpath, sizeof rpath);
        path = rpath;
    }
    printf("checkpoint %s\n", path);
    if (a->max_batches > 0)
        printf("not registered in the models table (--max-batches: a probe run)\n");
    if (sum->stopped)
        printf("stopped on request after epoch %d\n"
               "`horizon train --resume` with the same options continues the run\n",
               sum->epochs_run);
    if (repeats > 1 && a->repeat < 0) {
        printf("best val mse=%.6f\n", sum->val_mse);
        printf("test (mean of %d repeats) mse=%.6f mae=%.6f\n", repeats, sum->test_mse,
               sum->test_mae);
    } else {
        printf("val mse=%.6f mae=%.6f\n", sum->val_mse, sum->val_mae);
        printf("test mse=%.6f mae=%.6f\n", sum->test_mse, sum->test_mae);
    }
}

/* Trains p (a pipeline, or one appliance's view of one) and prints its summary. */
static int train_pipeline(const train_args *a, const hz_config *cfg, const hz_pipeline_conf *p)
{
    train_paths tp;
    pick_paths(a, p, &tp);
    hz_train_opts o = {.series = a->m.series,
                       .checkpoint = tp.write,
                       .base = tp.base,
                       .epochs = a->epochs,
                       .max_batches = a->max_batches,
                       .cancel = &g_train_cancel,
                       .repeat = a->repeat >= 0 ? &a->repeat : NULL,
                       .stop = &g_train_stop,
                       .keep_state = 1,
                       .resume = a->resume ? HZ_RESUME : 0,
                       .no_register = a->max_batches > 0}; /* a probe run */
    hz_train_summary sum;
    char err[HZ_ERRLEN];
    if (hz_trainer_run(cfg, p, &o, &sum, err, sizeof err)) {
        hz_cli_error(CMD, "%s", err);
        return HZ_EXIT_FAIL;
    }
    /* --repeat K: the run's own checkpoint, named after the served file's */
    print_summary(a, p, a->repeat >= 0 && tp.base ? tp.base : tp.write, &sum);
    return finish_version(a, &tp) ? HZ_EXIT_FAIL : HZ_EXIT_OK;
}

/* The plain transformer's size beside the NILMFormer whose parameter count it matches. */
static void print_plain(const hz_pipeline_conf *view)
{
    hz_model_conf mc;
    char err[HZ_ERRLEN];
    if (hz_pipeline_model_conf(view, 2, &mc, err, sizeof err))
        return; /* the trainer reports it */
    hz_model_conf nf = mc;
    nf.plain = 0;
    nf.d_ff = view->model.params.d_ff;
    printf("plain transformer: d_model %d, %d heads, %d layers, d_ff %d, %lld parameters; "
           "NILMFormer of this config (d_ff %d): %lld\n",
           mc.d_model, mc.n_heads, mc.e_layers, mc.d_ff, (long long)hz_nilmformer_n_params(&mc),
           nf.d_ff, (long long)hz_nilmformer_n_params(&nf));
}

/* Task disaggregate: a model per appliance (--appliance: that one), each trained on its
 * view of the pipeline (training/disagg.h). */
static int train_appliances(const train_args *a, const hz_config *cfg, const hz_pipeline_conf *p)
{
    int n = (int)p->model.data.n_appliances, one = -1;
    if (a->appliance && (one = hz_disagg_find(p, a->appliance)) < 0) {
        hz_cli_error(CMD, "pipeline %s has no appliance %s in model.data.appliances", p->name,
                     a->appliance);
        return HZ_EXIT_FAIL;
    }
    if (a->m.checkpoint && one < 0 && n > 1) {
        hz_cli_error(CMD, "--checkpoint names one file: give --appliance too");
        return HZ_EXIT_FAIL;
    }
    for (int i = 0; i < n; i++) {
        if (one >= 0 && i != one)
            continue;
        hz_disagg_view v;
        char err[HZ_ERRLEN];
        if (hz_disagg_view_init(p, i, &v, err, sizeof err)) {
            hz_cli_error(CMD, "%s", err);
            return HZ_EXIT_FAIL;
        }
        printf("appliance %s\n", v.values[1]);
        if (v.p.model.params.plain)
            print_plain(&v.p);
        fflush(stdout);
        int rc = train_pipeline(a, cfg, &v.p);
        if (rc || atomic_load(&g_train_stop))
            return rc;
    }
    return HZ_EXIT_OK;
}

static int run(const train_args *a)
{
    hz_config *cfg;
    const hz_pipeline_conf *p;
    if (hz_cli_load(CMD, &a->m, &cfg, &p))
        return HZ_EXIT_FAIL;
    hz_pipeline_conf with_threads;
    if (a->threads > 0) { /* --threads overrides model.train.threads */
        with_threads = *p;
        with_threads.model.train.threads = a->threads;
        p = &with_threads;
    }
    hz_on_signal(SIGINT, on_signal);
    hz_on_signal(SIGTERM, on_signal);
    int rc;
    hz_pipeline_conf plain;
    char plain_ckpt[1100];
    if (a->plain && p->model.task == HZ_CFG_TASK_DISAGGREGATE && !p->model.params.plain) {
        /* the baseline: the same pipeline with params.plain, its own checkpoints */
        plain = *p;
        plain.model.params.plain = 1;
        hz_disagg_plain_checkpoint(p->model.checkpoint, plain_ckpt, sizeof plain_ckpt);
        plain.model.checkpoint = plain_ckpt;
        p = &plain;
    }
    if (a->plain && p != &plain) {
        hz_cli_error(CMD, "--plain goes with model.task disaggregate and model.params.plain "
                          "false (it trains the baseline of that config)");
        rc = HZ_EXIT_FAIL;
    } else if (p->model.task == HZ_CFG_TASK_DISAGGREGATE)
        rc = train_appliances(a, cfg, p);
    else if (a->appliance) {
        hz_cli_error(CMD, "--appliance goes with model.task disaggregate");
        rc = HZ_EXIT_FAIL;
    } else
        rc = train_pipeline(a, cfg, p);
    hz_config_free(cfg);
    return rc;
}

int hz_cmd_train(int argc, char **argv)
{
    train_args a;
    char err[HZ_ERRLEN] = "";
    int rc = hz_cli_parse_exit(CMD, parse(argc, argv, &a, err, sizeof err), err, usage);
    return rc >= 0 ? rc : run(&a);
}
