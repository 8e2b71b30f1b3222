/* async_sink.h — runs another sink's writes on a thread of its own, so a pipeline forecasts
 * its next batch while the SQLite sink writes the last one (connectors/factory.c wraps the
 * SQLite sinks with it; docs/ARCHITECTURE.md, "Threads").
 *
 * write_* copy the records (strings and arrays included) into a queue and return; a writer
 * thread hands them to the inner sink in the order written.  flush waits until the queue is
 * empty, then flushes the inner sink: what flush returned 0 for is as durable as the inner
 * sink makes it, so the caller's acknowledgements keep their meaning.  The first error of a
 * queued write is returned by the next write or flush (the caller then stops, and the
 * restart replays from the last acknowledgement).  Memory: two queues, each grown to the
 * largest amount written between two hand-overs, kept for reuse. */
#ifndef HZ_ASYNC_SINK_H
#define HZ_ASYNC_SINK_H

#include "connectors/connector.h"

/* Takes ownership of inner (freed by the wrapper's free, which first drains the queue without
 * flushing: unflushed records are rolled back as by the inner sink's free).  Returns 0 or
 * HZ_ENOMEM (inner freed too). */
int hz_async_sink_new(hz_sink *inner, hz_sink **out, char *err, size_t errlen);

#endif
