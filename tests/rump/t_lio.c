/* lio_listio. */
#include <errno.h>
#include <string.h>

#include "rump_aio.h"

static struct aiocb *
lio_cb(int fd, int opcode, void *buf, size_t n, int64_t off)
{
	struct aiocb *cb = t_cb();

	cb->aio_fildes = fd;
	cb->aio_lio_opcode = opcode;
	cb->aio_buf = buf;
	cb->aio_nbytes = n;
	cb->aio_offset = off;
	return cb;
}

static int
lio(int mode, struct aiocb **list, int n, struct nb_sigevent *sev)
{
	errno = 0;
	return rump_sys_lio_listio(mode, (struct aiocb *const *)list, n,
	    (struct sigevent *)(void *)sev);
}

/* Waits for every non-NULL entry; returns how many are still pending. */
static int
wait_all(struct aiocb **list, int n)
{
	int i, left = 0;

	for (i = 0; i < n; i++)
		if (list[i] != NULL && t_wait(list[i], 5000) == -2)
			left++;
	return left;
}

void
lio_wait(void)
{
	enum { SZ = 4096 };
	struct aiocb *l[3];
	unsigned char *w0, *w1, *r0, *r1;
	ssize_t r;
	int fd, rv, e, i;

	REQUIRE((fd = t_file("liowait", 0, RUMP_O_RDWR)) >= 0);
	w0 = t_buf(SZ);
	w1 = t_buf(SZ);
	t_pattern(w0, SZ, 7);
	t_pattern(w1, SZ, 8);
	l[0] = lio_cb(fd, NB_LIO_WRITE, w0, SZ, 0);
	l[1] = lio_cb(fd, NB_LIO_WRITE, w1, SZ, SZ);
	rv = lio(NB_LIO_WAIT, l, 2, NULL);
	CHECK(rv == 0, "LIO_WAIT writes: %d errno %d", rv, errno);
	for (i = 0; i < 2; i++) {
		/* complete on return: no waiting allowed here */
		CHECK((e = rump_sys_aio_error(l[i])) == 0,
		    "write %d after LIO_WAIT: aio_error %d", i, e);
	}
	if (wait_all(l, 2))
		FAIL("writes never completed");
	for (i = 0; i < 2; i++)
		CHECK((r = rump_sys_aio_return(l[i])) == SZ,
		    "write %d: aio_return %zd", i, r);

	r0 = t_buf(SZ);
	r1 = t_buf(SZ);
	l[0] = lio_cb(fd, NB_LIO_READ, r0, SZ, 0);
	l[1] = lio_cb(fd, NB_LIO_READ, r1, SZ, SZ);
	l[2] = lio_cb(fd, NB_LIO_READ, t_buf(SZ), SZ, 2 * SZ); /* at EOF */
	rv = lio(NB_LIO_WAIT, l, 3, NULL);
	CHECK(rv == 0, "LIO_WAIT reads: %d errno %d", rv, errno);
	for (i = 0; i < 3; i++)
		CHECK((e = rump_sys_aio_error(l[i])) == 0,
		    "read %d after LIO_WAIT: aio_error %d", i, e);
	if (wait_all(l, 3))
		FAIL("reads never completed");
	CHECK((r = rump_sys_aio_return(l[0])) == SZ, "read 0: %zd", r);
	CHECK((r = rump_sys_aio_return(l[1])) == SZ, "read 1: %zd", r);
	CHECK((r = rump_sys_aio_return(l[2])) == 0, "read at EOF: %zd", r);
	CHECK(memcmp(r0, w0, SZ) == 0 && memcmp(r1, w1, SZ) == 0,
	    "data read back differs");
}

void
lio_nowait(void)
{
	enum { N = 8, SZ = 512 };
	struct aiocb *l[N];
	struct nb_sigevent sev;
	unsigned char *want;
	ssize_t r;
	int fd, rv, e, i, bad = 0;

	REQUIRE((fd = t_file("lionowait", N * SZ, RUMP_O_RDWR)) >= 0);
	want = t_buf(N * SZ);
	t_pattern(want, N * SZ, 0x5eed);
	for (i = 0; i < N; i++)
		l[i] = lio_cb(fd, NB_LIO_READ, t_buf(SZ), SZ, (int64_t)i * SZ);
	rv = lio(NB_LIO_NOWAIT, l, N / 2, NULL);
	CHECK(rv == 0, "LIO_NOWAIT, sig NULL: %d errno %d", rv, errno);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = NB_SIGEV_NONE;
	rv = lio(NB_LIO_NOWAIT, l + N / 2, N / 2, &sev);
	CHECK(rv == 0, "LIO_NOWAIT, SIGEV_NONE: %d errno %d", rv, errno);
	if (wait_all(l, N))
		FAIL("reads never completed");
	for (i = 0; i < N; i++) {
		CHECK((e = rump_sys_aio_error(l[i])) == 0, "read %d: aio_error %d",
		    i, e);
		CHECK((r = rump_sys_aio_return(l[i])) == SZ,
		    "read %d: aio_return %zd", i, r);
		if (memcmp((const void *)l[i]->aio_buf, want + i * SZ, SZ) != 0)
			bad++;
	}
	CHECK(bad == 0, "%d block(s) differ", bad);

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = 99;
	l[0] = lio_cb(fd, NB_LIO_READ, t_buf(SZ), SZ, 0);
	rv = lio(NB_LIO_NOWAIT, l, 1, &sev);
	CHECK(rv == -1 && errno == NB_EINVAL, "LIO_NOWAIT with sigev_notify "
	    "99: %d errno %d, want -1/EINVAL", rv, errno);
	(void)wait_all(l, 1);
}

void
lio_nop(void)
{
	struct aiocb *l[3], snap;
	unsigned char *nb;
	ssize_t r;
	int fd, rv, e;

	REQUIRE((fd = t_file("lionop", 100, RUMP_O_RDWR)) >= 0);
	nb = t_buf(16);
	l[0] = lio_cb(fd, NB_LIO_READ, t_buf(16), 16, 0);
	l[1] = lio_cb(fd, NB_LIO_NOP, nb, 16, 0);
	l[2] = lio_cb(fd, NB_LIO_READ, t_buf(16), 16, 16);
	snap = *l[1];
	rv = lio(NB_LIO_WAIT, l, 3, NULL);
	CHECK(rv == 0, "LIO_WAIT with a LIO_NOP entry: %d errno %d", rv, errno);
	if (wait_all(l, 3))
		FAIL("reads never completed");
	CHECK((e = rump_sys_aio_error(l[0])) == 0, "entry 0: %d", e);
	CHECK((e = rump_sys_aio_error(l[2])) == 0, "entry 2: %d", e);
	CHECK((r = rump_sys_aio_return(l[0])) == 16, "entry 0: %zd", r);
	CHECK((r = rump_sys_aio_return(l[2])) == 16, "entry 2: %zd", r);
	CHECK(memcmp(l[1], &snap, NB_AIOCB_USER_BYTES) == 0,
	    "LIO_NOP entry's fields changed");
	CHECK(nb[0] == 0 && memcmp(nb, nb + 1, 15) == 0,
	    "LIO_NOP entry's buffer written");
	l[0] = l[1];
	rv = lio(NB_LIO_NOWAIT, l, 1, NULL);
	CHECK(rv == 0, "LIO_NOWAIT with only a LIO_NOP: %d errno %d", rv,
	    errno);
}

void
lio_null_entries(void)
{
	struct aiocb *l[4];
	ssize_t r;
	int fd, rv, e;

	REQUIRE((fd = t_file("lionull", 100, RUMP_O_RDWR)) >= 0);
	l[0] = NULL;
	l[1] = lio_cb(fd, NB_LIO_READ, t_buf(16), 16, 0);
	l[2] = NULL;
	l[3] = lio_cb(fd, NB_LIO_WRITE, t_buf(16), 16, 50);
	rv = lio(NB_LIO_WAIT, l, 4, NULL);
	CHECK(rv == 0, "LIO_WAIT {NULL, read, NULL, write}: %d errno %d, "
	    "want 0", rv, errno);
	if (wait_all(l, 4))
		FAIL("entries never completed");
	CHECK((e = rump_sys_aio_error(l[1])) == 0, "read: aio_error %d", e);
	CHECK((e = rump_sys_aio_error(l[3])) == 0, "write: aio_error %d", e);
	CHECK((r = rump_sys_aio_return(l[1])) == 16, "read: %zd", r);
	CHECK((r = rump_sys_aio_return(l[3])) == 16, "write: %zd", r);

	l[1] = lio_cb(fd, NB_LIO_READ, t_buf(16), 16, 0);
	rv = lio(NB_LIO_NOWAIT, l, 3, NULL);
	CHECK(rv == 0, "LIO_NOWAIT {NULL, read, NULL}: %d errno %d, want 0",
	    rv, errno);
	if (wait_all(l, 3))
		FAIL("entries never completed");
	CHECK((e = rump_sys_aio_error(l[1])) == 0, "read: aio_error %d", e);
}

void
lio_einval_mode(void)
{
	struct aiocb *l[1];
	int fd, rv;
	ssize_t r;
	char b[8];

	REQUIRE((fd = t_file("liomode", 0, RUMP_O_RDWR)) >= 0);
	l[0] = lio_cb(fd, NB_LIO_WRITE, t_buf(16), 16, 0);
	rv = lio(7, l, 1, NULL);
	CHECK(rv == -1 && errno == NB_EINVAL, "mode 7: %d errno %d", rv, errno);
	rv = lio(-1, l, 1, NULL);
	CHECK(rv == -1 && errno == NB_EINVAL, "mode -1: %d errno %d", rv, errno);
	t_settle();
	r = rump_sys_pread(fd, b, sizeof(b), 0);
	CHECK(r == 0, "the write of a refused list happened (file has %zd "
	    "bytes)", r);
}

void
lio_einval_nent(void)
{
	static struct aiocb *l[NB_AIO_LISTIO_MAX + 1];	/* all NULL */
	int rv;

	/* POSIX names only nent > AIO_LISTIO_MAX; an empty list may be 0. */
	rv = lio(NB_LIO_WAIT, l, 0, NULL);
	CHECK(rv == 0 || (rv == -1 && errno == NB_EINVAL),
	    "nent 0: %d errno %d, want 0 or -1/EINVAL", rv, errno);
	t_info("nent 0: %s", rv == 0 ? "accepted (empty list)" : "EINVAL");
	rv = lio(NB_LIO_WAIT, l, -1, NULL);
	CHECK(rv == -1 && errno == NB_EINVAL, "nent -1: %d errno %d", rv,
	    errno);
	rv = lio(NB_LIO_NOWAIT, l, NB_AIO_LISTIO_MAX + 1, NULL);
	CHECK(rv == -1 && errno == NB_EINVAL, "nent AIO_LISTIO_MAX+1: %d "
	    "errno %d", rv, errno);
}

void
lio_eio_bad_entry(void)
{
	struct aiocb *l[3];
	ssize_t r;
	int fd, rv, e, mode;

	REQUIRE((fd = t_file("lioeio", 100, RUMP_O_RDWR)) >= 0);
	for (mode = NB_LIO_NOWAIT; mode <= NB_LIO_WAIT; mode++) {
		const char *m = mode == NB_LIO_WAIT ? "LIO_WAIT" : "LIO_NOWAIT";

		l[0] = lio_cb(fd, NB_LIO_READ, t_buf(16), 16, 0);
		l[1] = lio_cb(fd, 7 /* bad opcode */, t_buf(16), 16, 0);
		l[2] = lio_cb(fd, NB_LIO_WRITE, t_buf(16), 16, 200);
		rv = lio(mode, l, 3, NULL);
		CHECK(rv == -1 && errno == NB_EIO, "%s with a bad entry: %d "
		    "errno %d, want -1/EIO", m, rv, errno);
		if (wait_all(l, 3))
			FAIL("%s: entries never completed", m);
		CHECK((e = rump_sys_aio_error(l[0])) == 0, "%s: good read: "
		    "aio_error %d", m, e);
		CHECK((r = rump_sys_aio_return(l[0])) == 16, "%s: good read: "
		    "aio_return %zd", m, r);
		CHECK((e = rump_sys_aio_error(l[2])) == 0, "%s: good write: "
		    "aio_error %d", m, e);
		CHECK((r = rump_sys_aio_return(l[2])) == 16, "%s: good write: "
		    "aio_return %zd", m, r);
		errno = 0;
		e = rump_sys_aio_error(l[1]);
		CHECK(e == NB_EINVAL || (e == -1 && errno == NB_EINVAL),
		    "%s: bad entry: aio_error %d errno %d, want EINVAL", m, e,
		    errno);
	}
}
