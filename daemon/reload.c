#include "reload.h"

#include <errno.h>

#include "log.h"
#include "reload_plan.h"

void log_config_errors(const ConfigErrors *errs, const char *path) {
        _cleanup_buf_ Buf report = { 0 };
        config_errors_render(errs, path, &report);
        /* One journal entry per line, each with its priority. */
        for (const char *pos = report.data ? report.data : ""; *pos;) {
                StrView line = sv_next_line(&pos);
                log_error("%.*s", (int) line.n, line.p);
        }
}

/* A probe running now that the new config would make unavailable (a
 * label, condition or decoder naming a field its tracepoint lacks) is a
 * mistake in the new config, not a kernel that lacks something: it is the
 * same kernel. An error, as any other. */
static void check_running_probes(const Registry *running, const Config *config, ConfigErrors *errs) {
        for (size_t i = 0; i < config->n_probes; i++) {
                const ProbeConfig *np = &config->probes[i];
                for (size_t o = 0; np->kernel_lacks && o < running->n_probes; o++)
                        if (running->probes[o].state == PROBE_STATE_REGISTERED &&
                            strcmp(running->probes[o].config->name, np->name) == 0) {
                                size_t before = errs->n;
                                config_errors_add(errs, np->line, np->column,
                                                  "probe '%s', registered now, would be unavailable: %s", np->name,
                                                  np->kernel_lacks);
                                config_errors_set_file(errs, before, np->file);
                        }
        }
}

static Config *load(const Reloader *ctx) {
        Config *config = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load_file(ctx->config_path, &config, &errs);
        if (r >= 0) {
                registry_check_config(config, ctx->tracefs_root, ctx->text_reader, &errs);
                check_running_probes(*ctx->registry, config, &errs);
        }
        if (r < 0 || errs.n > 0) {
                log_config_errors(&errs, ctx->config_path);
                log_error("%s: %zu error(s); the running config stays as it was", ctx->config_path, errs.n);
                config_errors_clear(&errs);
                config_free(config);
                return NULL;
        }
        return config;
}

int reload_apply(const Reloader *ctx, ReloadSummary *ret) {
        Config *config = load(ctx);
        if (!config)
                return -EINVAL;

        Pipeline *prev = *ctx->pipeline, *next = NULL;
        Registry *old = *ctx->registry;
        int r = pipeline_new(config, prev->resolve_comm, prev->resolve_userdata, &next);
        if (r < 0)
                return log_error_errno(r, "Reload failed: %m");
        next->forget_comm = prev->forget_comm;

        pipeline_plan_kernel(next, &old->tfs->features, old->tfs->name, old->tfs->clock);
        bool *live = xcalloc(old->n_probes ? old->n_probes : 1, sizeof(bool));
        for (size_t i = 0; i < old->n_probes; i++)
                live[i] = old->probes[i].state == PROBE_STATE_REGISTERED && prev->probes[i].live;
        ReloadPlan plan;
        reload_plan_compute(prev->config, live, next->config, &plan);
        free(live);
        if (plan.listen_changed)
                log_notice("'listen' changed: it applies at the next restart");

        /* 1. Leaving probes stop producing events; 2. what the kernel
         * buffered is read with the pipeline it belongs to (a leaving
         * probe's records too: they count, in counters about to go); then
         * nothing is read until the new pipeline runs (one thread), so the
         * next record of a continued probe is counted by it, in the counters
         * it adopted. */
        for (size_t o = 0; o < old->n_probes; o++)
                if (plan.remove[o])
                        (void) registry_disable(old, &old->probes[o]);
        if (ctx->drain)
                ctx->drain(ctx->userdata);
        pipeline_adopt(next, prev, &plan);

        Registry *reg = registry_new(old->tfs, next->config);
        reg->instance_created = old->instance_created;
        reg->kallsyms_warned = old->kallsyms_warned;
        for (size_t i = 0; i < next->n_probes; i++) {
                ssize_t o = plan.probe_from[i];
                if (o < 0)
                        continue;
                const ProbeConfig *c = reg->probes[i].config;
                reg->probes[i] = old->probes[o];
                reg->probes[i].config = c;
                old->probes[o] = (RegProbe){ 0 };
        }
        reg->pipeline = next;
        reg->flush = ctx->flush;
        reg->flush_userdata = ctx->userdata;
        reg->khist = TAKE_PTR(old->khist);
        reg->n_khist = old->n_khist;
        old->n_khist = 0;
        *ctx->pipeline = next;
        *ctx->registry = reg;
        /* What the kernel counts for metrics that go, or whose probe is
         * registered anew, goes before the probes (which it holds). */
        registry_khist_prune(reg);
        if (ctx->switched)
                ctx->switched(ctx->userdata);

        /* 3. The kernel side: removals first, since a changed probe keeps
         * its name, which the kernel allows once. Removing an event that
         * was enabled in our instance empties the instance's buffer: each
         * removal is preceded by a flush, which reads what the continued
         * probes wrote meanwhile and counts what it could not read as lost. */
        for (size_t o = 0; o < old->n_probes; o++)
                if (plan.remove[o]) {
                        if (old->probes[o].defined && ctx->flush)
                                ctx->flush(ctx->userdata);
                        (void) registry_unregister(old, &old->probes[o]);
                }
        reg->orphans = TAKE_PTR(old->orphans);
        reg->n_orphans = old->n_orphans;
        old->n_orphans = 0;
        registry_free(old);
        pipeline_free(prev);

        size_t failed = 0;
        for (size_t i = 0; i < next->n_probes; i++)
                if (plan.probe_from[i] < 0) {
                        bool ok = registry_register(reg, i, next->config->path);
                        pipeline_set_live(next, i, ok);
                        failed += !ok;
                }
        registry_symbols_done(reg);
        size_t kfailed = registry_khist_install(reg, next->config->path);
        if (ctx->switched)
                ctx->switched(ctx->userdata);

        log_info("Reloaded: %zu probe(s) kept with their counters, %zu removed, %zu registered", plan.kept,
                 plan.removed, plan.added - failed);
        failed += kfailed;
        if (failed > 0)
                log_warning("Reload: %zu probe(s) could not be registered (see above; /probes says why)", failed);
        if (ret)
                *ret = (ReloadSummary){ .kept = plan.kept, .removed = plan.removed, .added = plan.added - (failed - kfailed),
                                        .failed = failed };
        reload_plan_done(&plan);
        return 0;
}
