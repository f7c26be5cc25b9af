/*
 * t_lio_listio: lio_listio().
 *
 * LIO_WAIT returns only when every listed operation is complete (reads
 * and writes mixed, up to {AIO_LISTIO_MAX} entries) and ignores the list
 * sigevent; LIO_NOWAIT returns at once and sends the list sigevent
 * exactly once, after all operations are complete.  LIO_NOP entries and
 * NULL pointers are skipped.  A bad mode and nent > {AIO_LISTIO_MAX}
 * give EINVAL; a list with a failing entry gives -1/EIO under LIO_WAIT,
 * with the entry's own error in its status and the others done.
 * glibc does not check nent, so that check uses H_OPT() (see h_aio.h);
 * so does the EIO of bad_entry_eio (descriptor -1), although glibc 2.36
 * meets it.  wait_io_error requires the EIO: the entry (a write to a
 * pipe without reader) fails with EPIPE during its I/O, and POSIX says
 * lio_listio "shall fail" with EIO then.
 *
 * The list sigevent may also be SIGEV_THREAD (the function runs once,
 * after every entry is done, with the sigev_value).  A LIO_NOWAIT list
 * with an entry refused at queue time (descriptor -1) and others queued:
 * netbsd-aio returns -1/EIO (src/engine/lio.rs; glibc finds the bad
 * descriptor only when the entry runs and returns 0, which POSIX allows,
 * so that check is H_OPT) and still sends the list signal, once, when
 * the queued entries are done.
 */

#include "h_aio.h"

enum { NR = 8, NW = 8, BS = 1000 };

static char src[NR * BS], wdata[NW * BS], rbufs[NR][BS];

H_TC(wait_mixed, "LIO_WAIT with reads and writes: all done on return")
ATF_TC_BODY(wait_mixed, tc)
{
	struct aiocb cb[NR + NW];
	struct aiocb *list[NR + NW];
	char back[NW * BS];
	int rfd, wfd, i;

	h_fill(src, sizeof(src), 41);
	h_fill(wdata, sizeof(wdata), 42);
	rfd = h_file("r", src, sizeof(src));
	wfd = h_file("w", NULL, 0);
	for (i = 0; i < NR + NW; i++) {
		/* Interleave: even entries read, odd entries write. */
		int k = i / 2;

		if (i % 2 == 0) {
			h_cb(&cb[i], rfd, rbufs[k], BS,
			    (off_t)(NR - 1 - k) * BS);
			cb[i].aio_lio_opcode = LIO_READ;
		} else {
			h_cb(&cb[i], wfd, wdata + k * BS, BS, (off_t)k * BS);
			cb[i].aio_lio_opcode = LIO_WRITE;
		}
		list[i] = &cb[i];
	}
	ATF_REQUIRE_EQ(lio_listio(LIO_WAIT, list, NR + NW, NULL), 0);
	/* No waiting here: LIO_WAIT already did. */
	for (i = 0; i < NR + NW; i++) {
		ATF_REQUIRE_MSG(aio_error(&cb[i]) == 0,
		    "entry %d has status %d after LIO_WAIT", i,
		    aio_error(&cb[i]));
		H_EQ(aio_return(&cb[i]), BS);
	}
	for (i = 0; i < NR; i++)
		ATF_REQUIRE_MSG(memcmp(rbufs[i], src + (NR - 1 - i) * BS, BS)
		    == 0, "read %d got wrong data", i);
	ATF_REQUIRE_EQ(pread(wfd, back, sizeof(back), 0),
	    (ssize_t)sizeof(back));
	ATF_REQUIRE(memcmp(back, wdata, sizeof(wdata)) == 0);
}

H_TC(wait_ignores_sig, "LIO_WAIT ignores the list sigevent")
ATF_TC_BODY(wait_ignores_sig, tc)
{
	struct aiocb cb;
	struct aiocb *list[1] = { &cb };
	struct sigevent sev;
	int fd, sig;

	sig = h_rtsig();
	h_sig_catch(sig);
	h_fill(src, sizeof(src), 43);
	fd = h_file("r", src, sizeof(src));
	h_cb(&cb, fd, rbufs[0], BS, 0);
	cb.aio_lio_opcode = LIO_READ;
	h_sigev_signal(&sev, sig, (union sigval){ .sival_int = 1 });
	ATF_REQUIRE_EQ(lio_listio(LIO_WAIT, list, 1, &sev), 0);
	ATF_REQUIRE_EQ(aio_error(&cb), 0);
	H_EQ(aio_return(&cb), BS);
	h_sleep_ms(100);
	ATF_REQUIRE_EQ(h_sig_count, 0);
}

H_TC(nowait_signal, "LIO_NOWAIT: list signal once, after all are done")
ATF_TC_BODY(nowait_signal, tc)
{
	struct aiocb cb[4];
	struct aiocb *list[4];
	struct sigevent sev;
	char pbuf[8];
	int fd, wfd, p[2], sig, i;

	sig = h_rtsig();
	h_sig_catch(sig);
	h_fill(src, sizeof(src), 44);
	h_fill(wdata, sizeof(wdata), 45);
	fd = h_file("r", src, sizeof(src));
	wfd = h_file("w", NULL, 0);
	h_pipe(p);

	h_cb(&cb[0], fd, rbufs[0], BS, BS);
	cb[0].aio_lio_opcode = LIO_READ;
	h_cb(&cb[1], wfd, wdata, BS, 0);
	cb[1].aio_lio_opcode = LIO_WRITE;
	h_cb(&cb[2], fd, rbufs[1], BS, 0);
	cb[2].aio_lio_opcode = LIO_READ;
	/* This one cannot finish until the test writes into the pipe. */
	h_cb(&cb[3], p[0], pbuf, 8, 0);
	cb[3].aio_lio_opcode = LIO_READ;
	for (i = 0; i < 4; i++)
		list[i] = &cb[i];
	h_sigev_signal(&sev, sig, (union sigval){ .sival_ptr = list });

	/* The handler samples the pipe read: it must be done by then. */
	h_sig_watch = &cb[3];
	ATF_REQUIRE_EQ(lio_listio(LIO_NOWAIT, list, 4, &sev), 0);
	ATF_REQUIRE_EQ(h_wait(&cb[0]), 0);
	ATF_REQUIRE_EQ(h_wait(&cb[1]), 0);
	ATF_REQUIRE_EQ(h_wait(&cb[2]), 0);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(aio_error(&cb[3]), EINPROGRESS);
	ATF_REQUIRE_MSG(h_sig_count == 0,
	    "list signal sent while an entry was still in progress");

	h_write_all(p[1], "12345678", 8);
	ATF_REQUIRE_MSG(h_sig_wait(1, H_WAIT_MS), "no list signal");
	ATF_REQUIRE_EQ(h_sig_signo, sig);
	ATF_REQUIRE_EQ(h_sig_code, SI_ASYNCIO);
	ATF_REQUIRE(h_sig_ptr == (void *)list);
	ATF_REQUIRE_EQ(h_sig_watch_err, 0);
	h_sleep_ms(100);
	ATF_REQUIRE_EQ(h_sig_count, 1);
	for (i = 0; i < 4; i++) {
		ATF_REQUIRE_EQ(aio_error(&cb[i]), 0);
		H_EQ(aio_return(&cb[i]), i == 3 ? 8 : BS);
	}
	ATF_REQUIRE(memcmp(rbufs[0], src + BS, BS) == 0);
	ATF_REQUIRE(memcmp(rbufs[1], src, BS) == 0);
	ATF_REQUIRE(memcmp(pbuf, "12345678", 8) == 0);
}

#ifdef SIGEV_THREAD
/* SIGEV_THREAD recorder: calls, value, thread, entries' status then. */
enum { TW = 3 };
static pthread_mutex_t thr_mtx = PTHREAD_MUTEX_INITIALIZER;
static int thr_calls;
static union sigval thr_val;
static pthread_t thr_thread;
static struct aiocb *thr_watch[TW];
static int thr_err[TW];

static void
thr_notify(union sigval v)
{
	int i;

	pthread_mutex_lock(&thr_mtx);
	if (thr_calls == 0)
		for (i = 0; i < TW; i++)
			thr_err[i] = aio_error(thr_watch[i]);
	thr_val = v;
	thr_thread = pthread_self();
	thr_calls++;
	pthread_mutex_unlock(&thr_mtx);
}

static int
thr_count(void)
{
	int n;

	pthread_mutex_lock(&thr_mtx);
	n = thr_calls;
	pthread_mutex_unlock(&thr_mtx);
	return n;
}
#endif

H_TC(nowait_thread, "LIO_NOWAIT with SIGEV_THREAD: the function runs once, "
    "after all are done, with the sigev_value")
ATF_TC_BODY(nowait_thread, tc)
{
#ifdef SIGEV_THREAD
	struct aiocb cb[TW];
	struct aiocb *list[TW];
	struct sigevent sev;
	long long deadline;
	char pbuf[8];
	int fd, wfd, p[2], r, i;

	h_fill(src, sizeof(src), 52);
	h_fill(wdata, sizeof(wdata), 53);
	fd = h_file("r", src, sizeof(src));
	wfd = h_file("w", NULL, 0);
	h_pipe(p);
	h_cb(&cb[0], fd, rbufs[0], BS, BS);
	cb[0].aio_lio_opcode = LIO_READ;
	h_cb(&cb[1], wfd, wdata, BS, 0);
	cb[1].aio_lio_opcode = LIO_WRITE;
	/* This one cannot finish until the test writes into the pipe. */
	h_cb(&cb[2], p[0], pbuf, 8, 0);
	cb[2].aio_lio_opcode = LIO_READ;
	for (i = 0; i < TW; i++) {
		list[i] = &cb[i];
		thr_watch[i] = &cb[i];
		thr_err[i] = -1;
	}
	thr_calls = 0;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = thr_notify;
	sev.sigev_notify_attributes = NULL;
	sev.sigev_value.sival_ptr = list;

	errno = 0;
	r = lio_listio(LIO_NOWAIT, list, TW, &sev);
#ifdef __NetBSD__
	if (r == -1 && errno == EINVAL)
		atf_tc_skip("SIGEV_THREAD not supported by this kernel's AIO");
#endif
	ATF_REQUIRE_MSG(r == 0, "lio_listio with SIGEV_THREAD: %s",
	    strerror(errno));
	ATF_REQUIRE_EQ(h_wait(&cb[0]), 0);
	ATF_REQUIRE_EQ(h_wait(&cb[1]), 0);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(aio_error(&cb[2]), EINPROGRESS);
	ATF_REQUIRE_MSG(thr_count() == 0,
	    "list function ran while an entry was still in progress");

	h_write_all(p[1], "12345678", 8);
	deadline = h_now_ms() + H_WAIT_MS;
	while (thr_count() == 0 && h_now_ms() < deadline)
		h_sleep_ms(1);
	ATF_REQUIRE_MSG(thr_count() > 0, "the list function never ran");
	h_sleep_ms(100);
	pthread_mutex_lock(&thr_mtx);
	ATF_REQUIRE_EQ(thr_calls, 1);
	ATF_REQUIRE(thr_val.sival_ptr == (void *)list);
	ATF_REQUIRE(!pthread_equal(thr_thread, pthread_self()));
	for (i = 0; i < TW; i++)
		ATF_REQUIRE_MSG(thr_err[i] == 0, "entry %d had status %d when "
		    "the list function ran", i, thr_err[i]);
	pthread_mutex_unlock(&thr_mtx);
	for (i = 0; i < TW; i++) {
		ATF_REQUIRE_EQ(aio_error(&cb[i]), 0);
		H_EQ(aio_return(&cb[i]), i == 2 ? 8 : BS);
	}
	ATF_REQUIRE(memcmp(rbufs[0], src + BS, BS) == 0);
	ATF_REQUIRE(memcmp(pbuf, "12345678", 8) == 0);
#else
	atf_tc_skip("SIGEV_THREAD is not defined");
#endif
}

H_TC(nowait_refused_signal, "LIO_NOWAIT, one entry refused at queue time: "
    "-1/EIO (AIO_STRICT), list signal once after the others are done")
ATF_TC_BODY(nowait_refused_signal, tc)
{
	struct aiocb cb[3];
	struct aiocb *list[3];
	struct sigevent sev;
	char pbuf[8];
	int fd, p[2], sig, r, err, i;

	sig = h_rtsig();
	h_sig_catch(sig);
	h_fill(src, sizeof(src), 54);
	fd = h_file("r", src, sizeof(src));
	h_pipe(p);
	h_cb(&cb[0], fd, rbufs[0], BS, 0);
	cb[0].aio_lio_opcode = LIO_READ;
	/* Refused at queue time: no such descriptor. */
	h_cb(&cb[1], -1, rbufs[1], BS, 0);
	cb[1].aio_lio_opcode = LIO_READ;
	/* Pending until the test writes into the pipe. */
	h_cb(&cb[2], p[0], pbuf, 8, 0);
	cb[2].aio_lio_opcode = LIO_READ;
	for (i = 0; i < 3; i++)
		list[i] = &cb[i];
	h_sigev_signal(&sev, sig, (union sigval){ .sival_int = 77 });

	h_sig_watch = &cb[2];
	errno = 0;
	r = lio_listio(LIO_NOWAIT, list, 3, &sev);
	err = errno;
	ATF_REQUIRE_MSG(r == 0 || (r == -1 && err == EIO),
	    "lio_listio gave %d errno %d", r, err);
	ATF_REQUIRE_EQ(h_wait(&cb[0]), 0);
	ATF_REQUIRE_EQ(h_wait(&cb[1]), EBADF);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(aio_error(&cb[2]), EINPROGRESS);
	ATF_REQUIRE_MSG(h_sig_count == 0,
	    "list signal sent while an entry was still in progress");

	h_write_all(p[1], "12345678", 8);
	ATF_REQUIRE_MSG(h_sig_wait(1, H_WAIT_MS),
	    "no list signal after a partly refused LIO_NOWAIT list");
	ATF_REQUIRE_EQ(h_sig_signo, sig);
	ATF_REQUIRE_EQ(h_sig_code, SI_ASYNCIO);
	ATF_REQUIRE_EQ(h_sig_ints[0], 77);
	ATF_REQUIRE_EQ(h_sig_watch_err, 0);
	h_sleep_ms(100);
	ATF_REQUIRE_EQ(h_sig_count, 1);
	H_EQ(aio_return(&cb[0]), BS);
	H_EQ(aio_return(&cb[1]), -1);
	ATF_REQUIRE_EQ(aio_error(&cb[2]), 0);
	H_EQ(aio_return(&cb[2]), 8);
	ATF_REQUIRE(memcmp(rbufs[0], src, BS) == 0);
	ATF_REQUIRE(memcmp(pbuf, "12345678", 8) == 0);

	H_OPT(r == -1 && err == EIO,
	    "LIO_NOWAIT with an entry refused at queue time returned %d "
	    "errno %d, not -1/EIO", r, err);
}

H_TC(wait_io_error, "LIO_WAIT, one entry fails during the I/O (EPIPE): "
    "-1/EIO, that entry's own error, the others done")
ATF_TC_BODY(wait_io_error, tc)
{
	struct aiocb cb[3];
	struct aiocb *list[3];
	char back[BS];
	int fd, wfd, p[2], r, err, i;

	h_fill(src, sizeof(src), 55);
	h_fill(wdata, sizeof(wdata), 56);
	fd = h_file("r", src, sizeof(src));
	wfd = h_file("w", NULL, 0);
	/* A pipe without reader: writing fails with EPIPE (SIGPIPE off). */
	h_pipe(p);
	ATF_REQUIRE(close(p[0]) == 0);
	h_cb(&cb[0], wfd, wdata, BS, 0);
	cb[0].aio_lio_opcode = LIO_WRITE;
	h_cb(&cb[1], p[1], wdata + BS, BS, 0);
	cb[1].aio_lio_opcode = LIO_WRITE;
	h_cb(&cb[2], fd, rbufs[2], BS, 2 * BS);
	cb[2].aio_lio_opcode = LIO_READ;
	for (i = 0; i < 3; i++)
		list[i] = &cb[i];
	errno = 0;
	r = lio_listio(LIO_WAIT, list, 3, NULL);
	err = errno;
	ATF_REQUIRE_MSG(r == -1 && err == EIO,
	    "LIO_WAIT with an entry failing in its I/O returned %d errno %d, "
	    "not -1/EIO", r, err);

	/* No waiting: LIO_WAIT already did. */
	ATF_REQUIRE_EQ(aio_error(&cb[1]), EPIPE);
	H_EQ(aio_return(&cb[1]), -1);
	ATF_REQUIRE_EQ(aio_error(&cb[0]), 0);
	H_EQ(aio_return(&cb[0]), BS);
	ATF_REQUIRE_EQ(aio_error(&cb[2]), 0);
	H_EQ(aio_return(&cb[2]), BS);
	ATF_REQUIRE(memcmp(rbufs[2], src + 2 * BS, BS) == 0);
	ATF_REQUIRE_EQ(pread(wfd, back, BS, 0), BS);
	ATF_REQUIRE(memcmp(back, wdata, BS) == 0);
}

H_TC(nop_and_null, "LIO_NOP entries and NULL pointers are skipped")
ATF_TC_BODY(nop_and_null, tc)
{
	struct aiocb nop, rd, nopw;
	struct aiocb *list[5];
	int fd;

	h_fill(src, sizeof(src), 46);
	fd = h_file("r", src, sizeof(src));
	/* A NOP with garbage that would fail if it were executed. */
	h_cb(&nop, -1, NULL, 123, -5);
	nop.aio_lio_opcode = LIO_NOP;
	/* A NOP that would write into the file if it were executed. */
	h_cb(&nopw, fd, wdata, BS, 0);
	nopw.aio_lio_opcode = LIO_NOP;
	h_cb(&rd, fd, rbufs[0], BS, 2 * BS);
	rd.aio_lio_opcode = LIO_READ;
	list[0] = NULL;
	list[1] = &nop;
	list[2] = &rd;
	list[3] = NULL;
	list[4] = &nopw;
	ATF_REQUIRE_EQ(lio_listio(LIO_WAIT, list, 5, NULL), 0);
	ATF_REQUIRE_EQ(aio_error(&rd), 0);
	H_EQ(aio_return(&rd), BS);
	ATF_REQUIRE(memcmp(rbufs[0], src + 2 * BS, BS) == 0);
	ATF_REQUIRE_EQ(pread(fd, rbufs[1], BS, 0), BS);
	ATF_REQUIRE_MSG(memcmp(rbufs[1], src, BS) == 0,
	    "an LIO_NOP entry wrote into the file");

	/* A list of nothing but NOPs and NULLs. */
	list[2] = NULL;
	ATF_REQUIRE_EQ(lio_listio(LIO_WAIT, list, 5, NULL), 0);
	ATF_REQUIRE_EQ(lio_listio(LIO_NOWAIT, list, 5, NULL), 0);
}

H_TC(einval_mode, "a bad mode gives EINVAL")
ATF_TC_BODY(einval_mode, tc)
{
	struct aiocb cb;
	struct aiocb *list[1] = { &cb };
	int fd;

	fd = h_file("w", NULL, 0);
	h_fill(wdata, sizeof(wdata), 47);
	h_cb(&cb, fd, wdata, BS, 0);
	cb.aio_lio_opcode = LIO_WRITE;
	H_ERR(lio_listio(12345, list, 1, NULL), EINVAL);
	H_ERR(lio_listio(-1, list, 1, NULL), EINVAL);
	h_sleep_ms(50);
	H_EQ(h_size(fd), 0);
}

H_TC(einval_nent, "nent > AIO_LISTIO_MAX gives EINVAL")
ATF_TC_BODY(einval_nent, tc)
{
	struct aiocb nop, **list;
	int max, i, r, err;

	max = h_listio_max();
	h_cb(&nop, -1, NULL, 0, 0);
	nop.aio_lio_opcode = LIO_NOP;
	list = calloc((size_t)max + 1, sizeof(*list));
	ATF_REQUIRE(list != NULL);
	for (i = 0; i <= max; i++)
		list[i] = &nop;
	ATF_REQUIRE_EQ(lio_listio(LIO_WAIT, list, max, NULL), 0);
	errno = 0;
	r = lio_listio(LIO_WAIT, list, max + 1, NULL);
	err = errno;
	H_OPT(r == -1 && err == EINVAL, "nent %d (max %d) gave %d errno %d",
	    max + 1, max, r, err);
	errno = 0;
	r = lio_listio(LIO_NOWAIT, list, max + 1, NULL);
	err = errno;
	H_OPT(r == -1 && err == EINVAL, "LIO_NOWAIT nent %d gave %d errno %d",
	    max + 1, r, err);
	free(list);
}

H_TC(max_entries, "a list of AIO_LISTIO_MAX reads completes")
ATF_TC_BODY(max_entries, tc)
{
	enum { RS = 64 };
	struct aiocb *cb, **list;
	char *buf, *data;
	int max, i, fd;

	max = h_listio_max();
	if (max > 4096)
		max = 4096;
	cb = calloc((size_t)max, sizeof(*cb));
	list = calloc((size_t)max, sizeof(*list));
	buf = malloc((size_t)max * RS);
	data = malloc((size_t)max * RS);
	ATF_REQUIRE(cb != NULL && list != NULL && buf != NULL && data != NULL);
	h_fill(data, (size_t)max * RS, 48);
	fd = h_file("r", data, (size_t)max * RS);
	for (i = 0; i < max; i++) {
		h_cb(&cb[i], fd, buf + (size_t)i * RS, RS, (off_t)i * RS);
		cb[i].aio_lio_opcode = LIO_READ;
		list[i] = &cb[i];
	}
	ATF_REQUIRE_EQ(lio_listio(LIO_WAIT, list, max, NULL), 0);
	for (i = 0; i < max; i++) {
		ATF_REQUIRE_EQ(aio_error(&cb[i]), 0);
		H_EQ(aio_return(&cb[i]), RS);
	}
	ATF_REQUIRE(memcmp(buf, data, (size_t)max * RS) == 0);
	free(cb);
	free(list);
	free(buf);
	free(data);
}

H_TC(bad_entry_eio, "LIO_WAIT with a bad entry: EIO, entry EBADF, others ok")
ATF_TC_BODY(bad_entry_eio, tc)
{
	struct aiocb cb[3];
	struct aiocb *list[3];
	char back[BS];
	int fd, wfd, r, err, i;

	h_fill(src, sizeof(src), 49);
	h_fill(wdata, sizeof(wdata), 50);
	fd = h_file("r", src, sizeof(src));
	wfd = h_file("w", NULL, 0);
	h_cb(&cb[0], wfd, wdata, BS, 0);
	cb[0].aio_lio_opcode = LIO_WRITE;
	h_cb(&cb[1], -1, rbufs[1], BS, 0);
	cb[1].aio_lio_opcode = LIO_READ;
	h_cb(&cb[2], fd, rbufs[2], BS, BS);
	cb[2].aio_lio_opcode = LIO_READ;
	for (i = 0; i < 3; i++)
		list[i] = &cb[i];
	errno = 0;
	r = lio_listio(LIO_WAIT, list, 3, NULL);
	err = errno;
	ATF_REQUIRE_MSG(r == 0 || (r == -1 && err == EIO),
	    "lio_listio gave %d errno %d", r, err);

	/* The good ones completed, the bad one has its own error. */
	ATF_REQUIRE_EQ(aio_error(&cb[0]), 0);
	H_EQ(aio_return(&cb[0]), BS);
	ATF_REQUIRE_EQ(aio_error(&cb[2]), 0);
	H_EQ(aio_return(&cb[2]), BS);
	ATF_REQUIRE(memcmp(rbufs[2], src + BS, BS) == 0);
	ATF_REQUIRE_EQ(pread(wfd, back, BS, 0), BS);
	ATF_REQUIRE(memcmp(back, wdata, BS) == 0);
	ATF_REQUIRE_EQ(aio_error(&cb[1]), EBADF);
	H_EQ(aio_return(&cb[1]), -1);

	H_OPT(r == -1 && err == EIO,
	    "LIO_WAIT with a failed entry returned %d errno %d, not -1/EIO",
	    r, err);
}

H_TC(nowait_bad_entry, "LIO_NOWAIT with a bad entry: entry EBADF, others ok")
ATF_TC_BODY(nowait_bad_entry, tc)
{
	struct aiocb cb[2];
	struct aiocb *list[2];
	int fd, r, err;

	h_fill(src, sizeof(src), 51);
	fd = h_file("r", src, sizeof(src));
	h_cb(&cb[0], -1, rbufs[0], BS, 0);
	cb[0].aio_lio_opcode = LIO_READ;
	h_cb(&cb[1], fd, rbufs[1], BS, 0);
	cb[1].aio_lio_opcode = LIO_READ;
	list[0] = &cb[0];
	list[1] = &cb[1];
	errno = 0;
	r = lio_listio(LIO_NOWAIT, list, 2, NULL);
	err = errno;
	/* The failure may or may not be known by the time it returns. */
	ATF_REQUIRE_MSG(r == 0 || (r == -1 && err == EIO),
	    "lio_listio gave %d errno %d", r, err);
	ATF_REQUIRE_EQ(h_wait(&cb[0]), EBADF);
	H_EQ(aio_return(&cb[0]), -1);
	h_wait_ok(&cb[1], BS);
	ATF_REQUIRE(memcmp(rbufs[1], src, BS) == 0);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, wait_mixed);
	ATF_TP_ADD_TC(tp, wait_ignores_sig);
	ATF_TP_ADD_TC(tp, nowait_signal);
	ATF_TP_ADD_TC(tp, nowait_thread);
	ATF_TP_ADD_TC(tp, nowait_refused_signal);
	ATF_TP_ADD_TC(tp, wait_io_error);
	ATF_TP_ADD_TC(tp, nop_and_null);
	ATF_TP_ADD_TC(tp, einval_mode);
	ATF_TP_ADD_TC(tp, einval_nent);
	ATF_TP_ADD_TC(tp, max_entries);
	ATF_TP_ADD_TC(tp, bad_entry_eio);
	ATF_TP_ADD_TC(tp, nowait_bad_entry);
	return atf_no_error();
}
