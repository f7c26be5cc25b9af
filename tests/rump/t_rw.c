/* aio_read/aio_write: data, short reads, argument errors. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "rump_aio.h"

static struct aiocb *
io_cb(int fd, void *buf, size_t n, int64_t off)
{
	struct aiocb *cb = t_cb();

	cb->aio_fildes = fd;
	cb->aio_buf = buf;
	cb->aio_nbytes = n;
	cb->aio_offset = off;
	return cb;
}

void
rw_roundtrip(void)
{
	const size_t n = 8192;
	unsigned char *wb, *rb, *pb;
	struct aiocb *w, *r;
	ssize_t rv;
	int fd, e;

	REQUIRE((fd = t_file("rw", 0, RUMP_O_RDWR)) >= 0);
	wb = t_buf(n);
	rb = t_buf(n);
	pb = t_buf(n + 4096);
	t_pattern(wb, n, 1);

	w = io_cb(fd, wb, n, 4096);
	REQUIRE((e = t_submit('w', w)) == 0, "aio_write: errno %d", e);
	REQUIRE((e = t_wait(w, 5000)) == 0, "aio_error after write: %d", e);
	REQUIRE((rv = rump_sys_aio_return(w)) == (ssize_t)n,
	    "aio_return of write: %zd", rv);

	rv = rump_sys_pread(fd, pb, n + 4096, 0);
	REQUIRE(rv == (ssize_t)(n + 4096), "pread: %zd errno %d", rv, errno);
	CHECK(memcmp(pb + 4096, wb, n) == 0, "pread sees other data");
	CHECK(pb[0] == 0 && pb[4095] == 0, "hole before the write not zero");

	r = io_cb(fd, rb, n, 4096);
	REQUIRE((e = t_submit('r', r)) == 0, "aio_read: errno %d", e);
	REQUIRE((e = t_wait(r, 5000)) == 0, "aio_error after read: %d", e);
	REQUIRE((rv = rump_sys_aio_return(r)) == (ssize_t)n,
	    "aio_return of read: %zd", rv);
	CHECK(memcmp(rb, wb, n) == 0, "data read back differs");
}

void
rw_queue_depth(void)
{
	enum { N = 32, SZ = 4096 };
	struct aiocb *w[N], *r[N];
	unsigned char *wb[N], *rb[N];
	ssize_t rv;
	int fd, i, e, bad = 0;

	REQUIRE((fd = t_file("qd", 0, RUMP_O_RDWR)) >= 0);
	for (i = 0; i < N; i++) {
		wb[i] = t_buf(SZ);
		t_pattern(wb[i], SZ, 100 + i);
		/* reverse order of offsets */
		w[i] = io_cb(fd, wb[i], SZ, (int64_t)(N - 1 - i) * SZ);
		REQUIRE((e = t_submit('w', w[i])) == 0, "aio_write %d: %d", i, e);
	}
	for (i = 0; i < N; i++) {
		REQUIRE((e = t_wait(w[i], 5000)) == 0, "write %d: aio_error %d",
		    i, e);
		REQUIRE((rv = rump_sys_aio_return(w[i])) == SZ,
		    "write %d: aio_return %zd", i, rv);
	}
	for (i = 0; i < N; i++) {
		rb[i] = t_buf(SZ);
		r[i] = io_cb(fd, rb[i], SZ, (int64_t)(N - 1 - i) * SZ);
		REQUIRE((e = t_submit('r', r[i])) == 0, "aio_read %d: %d", i, e);
	}
	for (i = 0; i < N; i++) {
		REQUIRE((e = t_wait(r[i], 5000)) == 0, "read %d: aio_error %d",
		    i, e);
		REQUIRE((rv = rump_sys_aio_return(r[i])) == SZ,
		    "read %d: aio_return %zd", i, rv);
		if (memcmp(rb[i], wb[i], SZ) != 0)
			bad++;
	}
	CHECK(bad == 0, "%d of %d blocks read back wrong", bad, N);
}

void
short_read_eof(void)
{
	unsigned char *b, *want;
	struct aiocb *a, *z, *far;
	ssize_t rv;
	int fd, e;

	REQUIRE((fd = t_file("eof", 100, RUMP_O_RDONLY)) >= 0);
	want = t_buf(100);
	t_pattern(want, 100, 0x5eed);

	b = t_buf(64);
	a = io_cb(fd, b, 64, 80);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read: %d", e);
	REQUIRE((e = t_wait(a, 5000)) == 0, "aio_error: %d", e);
	REQUIRE((rv = rump_sys_aio_return(a)) == 20,
	    "read of 64 at 80 in a 100-byte file returned %zd, want 20", rv);
	CHECK(memcmp(b, want + 80, 20) == 0, "short read data differs");

	z = io_cb(fd, t_buf(64), 64, 100);
	REQUIRE((e = t_submit('r', z)) == 0, "aio_read at EOF: %d", e);
	REQUIRE((e = t_wait(z, 5000)) == 0, "aio_error at EOF: %d", e);
	CHECK((rv = rump_sys_aio_return(z)) == 0, "read at EOF returned %zd", rv);

	far = io_cb(fd, t_buf(64), 64, 1 << 20);
	REQUIRE((e = t_submit('r', far)) == 0, "aio_read past EOF: %d", e);
	REQUIRE((e = t_wait(far, 5000)) == 0, "aio_error past EOF: %d", e);
	CHECK((rv = rump_sys_aio_return(far)) == 0,
	    "read past EOF returned %zd", rv);
}

/* Compares the user-owned fields of cb with a snapshot taken at submit. */
static void
compare_fields(const char *what, const struct aiocb *now,
    const struct aiocb *was)
{
	if (now->aio_offset != was->aio_offset)
		FAIL("%s: aio_offset changed %lld -> %lld", what,
		    (long long)was->aio_offset, (long long)now->aio_offset);
	if (now->aio_nbytes != was->aio_nbytes)
		FAIL("%s: aio_nbytes changed %zu -> %zu", what,
		    was->aio_nbytes, now->aio_nbytes);
	if (now->aio_buf != was->aio_buf)
		FAIL("%s: aio_buf changed", what);
	if (now->aio_fildes != was->aio_fildes)
		FAIL("%s: aio_fildes changed", what);
	if (now->aio_lio_opcode != was->aio_lio_opcode)
		FAIL("%s: aio_lio_opcode changed %d -> %d", what,
		    was->aio_lio_opcode, now->aio_lio_opcode);
	if (now->aio_reqprio != was->aio_reqprio)
		FAIL("%s: aio_reqprio changed", what);
	if (memcmp(&now->aio_sigevent, &was->aio_sigevent,
	    sizeof(was->aio_sigevent)) != 0)
		FAIL("%s: aio_sigevent changed", what);
}

void
fields_unchanged(void)
{
	struct aiocb *r, *w, snap;
	ssize_t rv;
	int fd, e;

	REQUIRE((fd = t_file("fields", 10, RUMP_O_RDWR)) >= 0);

	r = io_cb(fd, t_buf(100), 100, 5);
	r->aio_lio_opcode = NB_LIO_READ;
	r->aio_sigevent.sigev_value.sival_int = 77;
	snap = *r;
	REQUIRE((e = t_submit('r', r)) == 0, "aio_read: %d", e);
	REQUIRE((e = t_wait(r, 5000)) == 0, "aio_error: %d", e);
	compare_fields("short read (100 at 5 of 10)", r, &snap);
	REQUIRE((rv = rump_sys_aio_return(r)) == 5, "aio_return %zd", rv);
	compare_fields("short read after aio_return", r, &snap);

	w = io_cb(fd, t_buf(16), 16, 3);
	w->aio_lio_opcode = NB_LIO_WRITE;
	snap = *w;
	REQUIRE((e = t_submit('w', w)) == 0, "aio_write: %d", e);
	REQUIRE((e = t_wait(w, 5000)) == 0, "aio_error: %d", e);
	compare_fields("write (16 at 3)", w, &snap);
	REQUIRE((rv = rump_sys_aio_return(w)) == 16, "aio_return %zd", rv);
}

static void
both_ops(struct aiocb *cb, int err, const char *what)
{
	struct aiocb *c2 = t_cb();
	char msg[128];
	int k;

	*c2 = *cb;
	snprintf(msg, sizeof(msg), "%s (read)", what);
	k = t_expect_err('r', cb, err, 0, msg);
	if (k)
		t_info("%s: detected %s", msg, k == 's' ? "at the call" :
		    "asynchronously");
	snprintf(msg, sizeof(msg), "%s (write)", what);
	k = t_expect_err('w', c2, err, 0, msg);
	if (k)
		t_info("%s: detected %s", msg, k == 's' ? "at the call" :
		    "asynchronously");
}

void
einval_negative_offset(void)
{
	int fd;

	REQUIRE((fd = t_file("negoff", 100, RUMP_O_RDWR)) >= 0);
	both_ops(io_cb(fd, t_buf(16), 16, -1), NB_EINVAL, "aio_offset -1");
	both_ops(io_cb(fd, t_buf(16), 16, INT64_MIN), NB_EINVAL,
	    "aio_offset INT64_MIN");
}

void
einval_nbytes(void)
{
	struct aiocb *cb;
	int fd;

	REQUIRE((fd = t_file("nbytes", 100, RUMP_O_RDWR)) >= 0);
	cb = io_cb(fd, t_buf(16), (size_t)NB_SSIZE_MAX + 1, 0);
	both_ops(cb, NB_EINVAL, "aio_nbytes SSIZE_MAX+1");
	cb = io_cb(fd, t_buf(16), SIZE_MAX, 0);
	both_ops(cb, NB_EINVAL, "aio_nbytes SIZE_MAX");
}

void
einval_reqprio(void)
{
	struct aiocb *cb;
	int fd;

	REQUIRE((fd = t_file("reqprio", 100, RUMP_O_RDWR)) >= 0);
	cb = io_cb(fd, t_buf(16), 16, 0);
	cb->aio_reqprio = -1;
	both_ops(cb, NB_EINVAL, "aio_reqprio -1");
	cb = io_cb(fd, t_buf(16), 16, 0);
	cb->aio_reqprio = INT_MAX;
	both_ops(cb, NB_EINVAL, "aio_reqprio INT_MAX");
}

void
einval_sigevent(void)
{
	struct aiocb *cb;
	int fd;

	REQUIRE((fd = t_file("sigev", 100, RUMP_O_RDWR)) >= 0);
	cb = io_cb(fd, t_buf(16), 16, 0);
	cb->aio_sigevent.sigev_notify = 99;
	both_ops(cb, NB_EINVAL, "sigev_notify 99");
	cb = io_cb(fd, t_buf(16), 16, 0);
	cb->aio_sigevent.sigev_notify = -1;
	both_ops(cb, NB_EINVAL, "sigev_notify -1");
	cb = io_cb(fd, t_buf(16), 16, 0);
	cb->aio_sigevent.sigev_notify = NB_SIGEV_SIGNAL;
	cb->aio_sigevent.sigev_signo = 1000;
	both_ops(cb, NB_EINVAL, "SIGEV_SIGNAL signo 1000");
	cb = io_cb(fd, t_buf(16), 16, 0);
	cb->aio_sigevent.sigev_notify = NB_SIGEV_SIGNAL;
	cb->aio_sigevent.sigev_signo = -1;
	both_ops(cb, NB_EINVAL, "SIGEV_SIGNAL signo -1");
}

void
einval_in_progress_queued(void)
{
	struct aiocb *a, *b, snap;
	int p[2], e;
	ssize_t rv;

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	a = io_cb(p[0], t_buf(16), 16, 0);
	b = io_cb(p[0], t_buf(16), 16, 0);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read A: %d", e);
	t_settle();
	REQUIRE((e = t_submit('r', b)) == 0, "aio_read B: %d", e);
	t_settle();
	REQUIRE(rump_sys_aio_error(b) == NB_EINPROGRESS, "B not in progress");
	snap = *b;
	e = t_submit('r', b);
	CHECK(e == NB_EINVAL, "resubmitting queued aiocb B: %s",
	    e == 0 ? "accepted" : "wrong errno");
	if (e != 0 && e != NB_EINVAL)
		t_info("errno %d", e);
	CHECK(memcmp(b, &snap, sizeof(snap)) == 0,
	    "the refused resubmission changed B's aiocb");
	CHECK((e = rump_sys_aio_error(b)) == NB_EINPROGRESS,
	    "B after refused resubmission: aio_error %d", e);
	REQUIRE(rump_sys_write(p[1], "0123456789abcdefABCDEFGHIJKLMNOP", 32)
	    == 32, "pipe write: errno %d", errno);
	CHECK((e = t_wait(a, 5000)) == 0, "A: aio_error %d", e);
	CHECK((rv = rump_sys_aio_return(a)) == 16, "A: aio_return %zd", rv);
	CHECK((e = t_wait(b, 5000)) == 0, "B: aio_error %d", e);
	CHECK((rv = rump_sys_aio_return(b)) == 16, "B: aio_return %zd", rv);
}

void
einval_in_progress_running(void)
{
	struct aiocb *a, snap;
	int p[2], e;
	ssize_t rv;

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	a = io_cb(p[0], t_buf(16), 16, 0);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read A: %d", e);
	t_settle();
	REQUIRE(rump_sys_aio_error(a) == NB_EINPROGRESS, "A not in progress");
	snap = *a;
	e = t_submit('r', a);
	if (e == 0) {
		FAIL("resubmitting the running aiocb A was accepted "
		    "(a second read was queued on it)");
		/* both reads complete: one per 16 bytes */
		(void)rump_sys_write(p[1], "0123456789abcdefABCDEFGHIJKLMNOP",
		    32);
		t_settle();
		(void)t_wait(a, 3000);
		t_settle();
		(void)t_wait(a, 3000);
		return;
	}
	CHECK(e == NB_EINVAL, "resubmitting running aiocb A: errno %d", e);
	CHECK(memcmp(a, &snap, sizeof(snap)) == 0,
	    "the refused resubmission changed A's aiocb");
	CHECK((e = rump_sys_aio_error(a)) == NB_EINPROGRESS,
	    "A after refused resubmission: aio_error %d", e);
	REQUIRE(rump_sys_write(p[1], "0123456789abcdef", 16) == 16,
	    "pipe write: errno %d", errno);
	CHECK((e = t_wait(a, 5000)) == 0, "A: aio_error %d", e);
	CHECK((rv = rump_sys_aio_return(a)) == 16, "A: aio_return %zd", rv);
}

void
ebadf_bad_fd(void)
{
	int fd;

	both_ops(io_cb(999, t_buf(16), 16, 0), NB_EBADF, "fd 999");
	both_ops(io_cb(-1, t_buf(16), 16, 0), NB_EBADF, "fd -1");
	REQUIRE((fd = t_file("closed", 100, RUMP_O_RDWR)) >= 0);
	t_close(fd);
	both_ops(io_cb(fd, t_buf(16), 16, 0), NB_EBADF, "closed fd");
}

void
ebadf_wrong_mode(void)
{
	int ro, wo, k;

	REQUIRE((ro = t_file("ro", 100, RUMP_O_RDONLY)) >= 0);
	REQUIRE((wo = t_file("wo", 100, RUMP_O_WRONLY)) >= 0);
	k = t_expect_err('w', io_cb(ro, t_buf(16), 16, 0), NB_EBADF, 0,
	    "aio_write on O_RDONLY");
	if (k)
		t_info("write on O_RDONLY: EBADF %s", k == 's' ?
		    "at the call" : "asynchronously");
	k = t_expect_err('r', io_cb(wo, t_buf(16), 16, 0), NB_EBADF, 0,
	    "aio_read on O_WRONLY");
	if (k)
		t_info("read on O_WRONLY: EBADF %s", k == 's' ?
		    "at the call" : "asynchronously");
}

/*
 * A large read of data in memory (tmpfs) is not copied inside aio_read:
 * the caller gets control back while the copy is in progress.  16 MiB
 * take milliseconds to copy; aio_error right after aio_read must see
 * EINPROGRESS in at least one of five tries.
 */
void
rw_large_read_not_inline(void)
{
	const size_t n = 16 << 20;
	struct aiocb *r;
	void *buf;
	int fd, e, i, inprogress = 0;

	REQUIRE((fd = t_file("rwbig", n, RUMP_O_RDWR)) >= 0);
	buf = t_buf(n);
	for (i = 0; i < 5; i++) {
		r = io_cb(fd, buf, n, 0);
		REQUIRE((e = t_submit('r', r)) == 0, "aio_read: errno %d", e);
		inprogress += rump_sys_aio_error(r) == NB_EINPROGRESS;
		REQUIRE((e = t_wait(r, 30000)) == 0, "aio_error: %d", e);
		REQUIRE(rump_sys_aio_return(r) == (ssize_t)n, "aio_return");
	}
	CHECK(inprogress > 0, "every 16 MiB read was complete when aio_read "
	    "returned: the caller waited for the copy");
}
