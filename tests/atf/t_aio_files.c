/*
 * t_aio_files: file types and descriptor life time.
 *
 * Pipes and sockets: a read stays in progress until a plain write()
 * provides data, without holding up I/O on other descriptors; an AIO
 * write larger than the pipe buffer completes in full once a reader
 * drains it.  O_APPEND: queued writes land in
 * submission order (POSIX requires it for aio_write with O_APPEND), also
 * when the flag is set or cleared with F_SETFL while writes to the file
 * are queued.
 *
 * Descriptor life time: POSIX says an operation in progress is not
 * affected by close() of its descriptor (nor by dup2() over it): it
 * completes on the file that was open when it was submitted.  Checked for
 * pipes, AF_UNIX stream sockets (pending reads, then close() or dup2(),
 * then the peer writes) and regular files (queued writes after close();
 * queued writes and reads after dup2()).  glibc does the I/O on the
 * descriptor number when a helper thread gets to the request, so the
 * *_queued cases (several operations per descriptor, the later ones
 * still queued when the descriptor goes away) fail on glibc; that is a
 * glibc deviation and these cases are meant to catch it.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* O_DIRECT in glibc's <fcntl.h> */
#endif

#include <sys/socket.h>

#include "h_aio.h"

static char bufs[8][128];

H_TC(pipe_read, "aio_read on a pipe waits for a write()")
ATF_TC_BODY(pipe_read, tc)
{
	struct aiocb cb;
	int p[2];

	h_pipe(p);
	h_cb(&cb, p[0], bufs[0], 100, 0);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(aio_error(&cb), EINPROGRESS);
	/* A pipe read returns what is there, not the full 100 bytes. */
	h_write_all(p[1], "pipe data", 9);
	h_wait_ok(&cb, 9);
	ATF_REQUIRE(memcmp(bufs[0], "pipe data", 9) == 0);
	/* And end of file once the writer is gone. */
	ATF_REQUIRE(close(p[1]) == 0);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_wait_ok(&cb, 0);
}

H_TC(pipe_write, "aio_write on a pipe, read back with read()")
ATF_TC_BODY(pipe_write, tc)
{
	struct aiocb cb;
	char got[128];
	int p[2];

	h_pipe(p);
	h_fill(bufs[0], 100, 71);
	h_cb(&cb, p[1], bufs[0], 100, 0);
	ATF_REQUIRE_EQ(aio_write(&cb), 0);
	h_wait_ok(&cb, 100);
	ATF_REQUIRE_EQ(read(p[0], got, sizeof(got)), 100);
	ATF_REQUIRE(memcmp(got, bufs[0], 100) == 0);
}

H_TC(pipe_write_big, "an aio_write larger than the pipe buffer completes")
ATF_TC_BODY(pipe_write_big, tc)
{
	const size_t len = 1024 * 1024;
	struct aiocb cb;
	char *data, *got;
	size_t have;
	ssize_t n;
	long long deadline;
	int p[2];

	h_pipe(p);
	data = malloc(len);
	got = malloc(len);
	ATF_REQUIRE(data != NULL && got != NULL);
	h_fill(data, len, 72);
	h_cb(&cb, p[1], data, len, 0);
	ATF_REQUIRE_EQ(aio_write(&cb), 0);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(aio_error(&cb), EINPROGRESS);
	deadline = h_now_ms() + H_WAIT_MS;
	for (have = 0; have < len; have += (size_t)n) {
		ATF_REQUIRE_MSG(h_now_ms() < deadline, "read %zu of %zu",
		    have, len);
		n = read(p[0], got + have, len - have);
		ATF_REQUIRE_MSG(n > 0, "read: %zd (%s)", n, strerror(errno));
	}
	h_wait_ok(&cb, (ssize_t)len);
	ATF_REQUIRE(memcmp(got, data, len) == 0);
	free(data);
	free(got);
}

H_TC(socketpair_rw, "aio_read/aio_write on an AF_UNIX stream socket pair")
ATF_TC_BODY(socketpair_rw, tc)
{
	struct aiocb rd, wr;
	char got[64];
	int s[2];

	ATF_REQUIRE(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
	h_cb(&rd, s[0], bufs[0], 64, 0);
	ATF_REQUIRE_EQ(aio_read(&rd), 0);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(aio_error(&rd), EINPROGRESS);
	h_write_all(s[1], "from peer", 9);
	h_wait_ok(&rd, 9);
	ATF_REQUIRE(memcmp(bufs[0], "from peer", 9) == 0);

	memcpy(bufs[1], "to peer", 7);
	h_cb(&wr, s[0], bufs[1], 7, 0);
	ATF_REQUIRE_EQ(aio_write(&wr), 0);
	h_wait_ok(&wr, 7);
	ATF_REQUIRE_EQ(read(s[1], got, sizeof(got)), 7);
	ATF_REQUIRE(memcmp(got, "to peer", 7) == 0);

	/* Peer shutdown: a pending read completes with 0. */
	ATF_REQUIRE_EQ(aio_read(&rd), 0);
	h_sleep_ms(20);
	ATF_REQUIRE(shutdown(s[1], SHUT_WR) == 0);
	h_wait_ok(&rd, 0);
}

H_TC(independent_progress, "a read waiting on a pipe holds up no other I/O")
ATF_TC_BODY(independent_progress, tc)
{
	struct aiocb a, f, b;
	char data[128];
	int p[2], q[2], fd, e;

	/*
	 * POSIX has no rule for scheduling, but an operation that waits
	 * for an event outside the process (data in a pipe) must not block
	 * unrelated operations submitted after it: a program waiting for
	 * whichever of two pipes gets data first would hang forever.
	 */
	h_pipe(p);
	h_pipe(q);
	h_fill(data, sizeof(data), 74);
	fd = h_file("f", data, sizeof(data));
	h_cb(&a, p[0], bufs[0], 8, 0);
	ATF_REQUIRE_EQ(aio_read(&a), 0);
	h_sleep_ms(20);

	h_cb(&f, fd, bufs[1], sizeof(data), 0);
	ATF_REQUIRE_EQ(aio_read(&f), 0);
	e = h_wait_ms(&f, 3000);
	if (e == EINPROGRESS) {
		ATF_REQUIRE(close(p[1]) == 0);	/* unblock, then fail */
		atf_tc_fail("a regular file read stayed in progress for 3 s "
		    "behind a pipe read waiting for data");
	}
	ATF_REQUIRE_EQ(e, 0);
	H_EQ(aio_return(&f), sizeof(data));
	ATF_REQUIRE(memcmp(bufs[1], data, sizeof(data)) == 0);

	h_cb(&b, q[0], bufs[2], 4, 0);
	ATF_REQUIRE_EQ(aio_read(&b), 0);
	h_write_all(q[1], "qqqq", 4);
	e = h_wait_ms(&b, 3000);
	if (e == EINPROGRESS) {
		ATF_REQUIRE(close(p[1]) == 0);
		atf_tc_fail("a read on a pipe with data stayed in progress "
		    "for 3 s behind a read on another, empty pipe");
	}
	ATF_REQUIRE_EQ(e, 0);
	H_EQ(aio_return(&b), 4);

	ATF_REQUIRE_EQ(aio_error(&a), EINPROGRESS);
	h_write_all(p[1], "pppppppp", 8);
	h_wait_ok(&a, 8);
	ATF_REQUIRE(memcmp(bufs[0], "pppppppp", 8) == 0);
}

H_TC(append_order, "O_APPEND: 64 queued writes land in submission order")
ATF_TC_BODY(append_order, tc)
{
	enum { N = 64, RS = 100 };
	static char recs[N][RS], back[N * RS + 1];
	struct aiocb cb[N];
	int fd, i;

	fd = open("f", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	ATF_REQUIRE(fd != -1);
	h_write_all(fd, "HEAD", 4);
	for (i = 0; i < N; i++) {
		memset(recs[i], 'a' + i % 26, RS);
		snprintf(recs[i], RS, "record %02d", i);
		recs[i][RS - 1] = '\n';
		/* The offset must be ignored with O_APPEND. */
		h_cb(&cb[i], fd, recs[i], RS, (off_t)(i % 3) * 7);
		ATF_REQUIRE_EQ(aio_write(&cb[i]), 0);
	}
	for (i = 0; i < N; i++)
		h_wait_ok(&cb[i], RS);
	H_EQ(h_size(fd), 4 + N * RS);
	ATF_REQUIRE(close(fd) == 0);
	fd = open("f", O_RDONLY);
	ATF_REQUIRE(fd != -1);
	ATF_REQUIRE_EQ(pread(fd, back, 4, 0), 4);
	ATF_REQUIRE(memcmp(back, "HEAD", 4) == 0);
	ATF_REQUIRE_EQ(pread(fd, back, N * RS, 4), N * RS);
	for (i = 0; i < N; i++)
		ATF_REQUIRE_MSG(memcmp(back + i * RS, recs[i], RS) == 0,
		    "position %d holds \"%.9s\", expected record %02d",
		    i, back + i * RS, i);
}

/*
 * Keeps the helper threads or workers of the implementation busy: a read
 * on each of NBUSY empty pipes (more than glibc's 20 helper threads and
 * netbsd-aio's 8 workers by default), so that requests submitted after
 * them stay queued until busy_end().
 */
#define NBUSY	32

struct busy {
	int		p[NBUSY][2];
	struct aiocb	cb[NBUSY];
	char		buf[NBUSY];
};

static void
busy_start(struct busy *b)
{
	int i;

	for (i = 0; i < NBUSY; i++) {
		h_pipe(b->p[i]);
		h_cb(&b->cb[i], b->p[i][0], &b->buf[i], 1, 0);
		ATF_REQUIRE_EQ(aio_read(&b->cb[i]), 0);
	}
	h_sleep_ms(50);
}

static void
busy_end(struct busy *b)
{
	int i;

	for (i = 0; i < NBUSY; i++)
		ATF_REQUIRE(close(b->p[i][1]) == 0);
	for (i = 0; i < NBUSY; i++) {
		h_wait_ok(&b->cb[i], 0);
		ATF_REQUIRE(close(b->p[i][0]) == 0);
	}
}

/* The whole file `fd' must read `want'. */
static void
file_is(int fd, const char *want)
{
	char back[64];
	size_t len = strlen(want);

	ATF_REQUIRE(len < sizeof(back));
	H_EQ(h_size(fd), len);
	ATF_REQUIRE_EQ(pread(fd, back, sizeof(back), 0), (ssize_t)len);
	back[len] = '\0';
	ATF_REQUIRE_MSG(memcmp(back, want, len) == 0,
	    "the file holds \"%s\", expected \"%s\"", back, want);
}

H_TC(append_set_in_flight, "O_APPEND set with F_SETFL while a write to the "
    "file is queued: the next writes append, in order, at any aio_offset")
ATF_TC_BODY(append_set_in_flight, tc)
{
	static char a[] = "AAAA", b[] = "BBBB", c[] = "CCCC";
	struct busy busy;
	struct aiocb cb[3];
	int fd, fl;

	fd = h_file("f", "00000000", 8);
	busy_start(&busy);
	h_cb(&cb[0], fd, a, 4, 8);
	ATF_REQUIRE_EQ(aio_write(&cb[0]), 0);
	fl = fcntl(fd, F_GETFL);
	ATF_REQUIRE(fl != -1 && fcntl(fd, F_SETFL, fl | O_APPEND) == 0);
	/*
	 * With O_APPEND aio_offset is not used (POSIX), so -1 is no error;
	 * glibc hands it to pwrite(2) (EINVAL), so only with AIO_STRICT.
	 */
	h_cb(&cb[1], fd, b, 4, H_STRICT ? -1 : 0);
	ATF_REQUIRE_MSG(aio_write(&cb[1]) == 0, "aio_write with O_APPEND "
	    "and aio_offset -1: %s", strerror(errno));
	h_cb(&cb[2], fd, c, 4, 0);
	ATF_REQUIRE_EQ(aio_write(&cb[2]), 0);
	/* Else the change was not made while a write was in flight. */
	ATF_REQUIRE_EQ(aio_error(&cb[0]), EINPROGRESS);
	busy_end(&busy);
	h_wait_ok(&cb[0], 4);
	h_wait_ok(&cb[1], 4);
	h_wait_ok(&cb[2], 4);
	file_is(fd, "00000000AAAABBBBCCCC");
}

H_TC(append_cleared_in_flight, "O_APPEND cleared with F_SETFL while an "
    "append is queued: the next write goes to its aio_offset")
ATF_TC_BODY(append_cleared_in_flight, tc)
{
	static char a[] = "AAAA", b[] = "BB";
	struct busy busy;
	struct aiocb cb[2];
	int fd, fl;

	fd = h_file("f", "00000000", 8);
	fl = fcntl(fd, F_GETFL);
	ATF_REQUIRE(fl != -1 && fcntl(fd, F_SETFL, fl | O_APPEND) == 0);
	busy_start(&busy);
	/*
	 * The file offset and its aio_offset are the end of the file, so
	 * that it lands there whether it runs before or after the change
	 * and whether the library looks at O_APPEND at submission or when
	 * it performs the request (glibc does the latter).
	 */
	ATF_REQUIRE_EQ(lseek(fd, 0, SEEK_END), 8);
	h_cb(&cb[0], fd, a, 4, 8);
	ATF_REQUIRE_EQ(aio_write(&cb[0]), 0);
	ATF_REQUIRE(fcntl(fd, F_SETFL, fl & ~O_APPEND) == 0);
	h_cb(&cb[1], fd, b, 2, 0);
	ATF_REQUIRE_EQ(aio_write(&cb[1]), 0);
	ATF_REQUIRE_EQ(aio_error(&cb[0]), EINPROGRESS);
	busy_end(&busy);
	h_wait_ok(&cb[0], 4);
	h_wait_ok(&cb[1], 2);
	file_is(fd, "BB000000AAAA");
}

/*
 * n reads of len bytes each on a pipe (or, if sock, an AF_UNIX stream
 * socket pair) p; then the descriptor goes away (close or dup2 of other
 * over it), then all data is written in one go into p[1].  Every read
 * must complete with one distinct chunk.
 */
static void
gone_while_pending(int n, size_t len, int other, bool sock)
{
	struct aiocb cb[8];
	char data[8 * 16];
	bool used[8];
	int p[2], i, j, e;

	ATF_REQUIRE(n <= 8 && len <= 16);
	/* SIGPIPE ignored either way: a failing write gives EPIPE. */
	h_pipe(p);
	if (sock) {
		ATF_REQUIRE(close(p[0]) == 0 && close(p[1]) == 0);
		ATF_REQUIRE_MSG(socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0,
		    "socketpair: %s", strerror(errno));
	}
	for (i = 0; i < n; i++) {
		memset(data + i * len, 'A' + i, len);
		h_cb(&cb[i], p[0], bufs[i], len, 0);
		ATF_REQUIRE_EQ(aio_read(&cb[i]), 0);
	}
	h_sleep_ms(50);
	for (i = 0; i < n; i++)
		ATF_REQUIRE_EQ(aio_error(&cb[i]), EINPROGRESS);
	if (other == -1)
		ATF_REQUIRE(close(p[0]) == 0);
	else
		ATF_REQUIRE(dup2(other, p[0]) == p[0]);

	/* The writer must still see a reader: the operations hold one. */
	errno = 0;
	ATF_REQUIRE_MSG(write(p[1], data, n * len) == (ssize_t)(n * len),
	    "write after close/dup2 of the read end: %s", strerror(errno));
	memset(used, 0, sizeof(used));
	for (i = 0; i < n; i++) {
		e = h_wait(&cb[i]);
		ATF_REQUIRE_MSG(e == 0, "read %d of %d failed with %d (%s) "
		    "after its %s descriptor was %s", i, n, e, strerror(e),
		    sock ? "socket" : "pipe",
		    other == -1 ? "closed" : "replaced by dup2");
		H_EQ(aio_return(&cb[i]), len);
		for (j = 0; j < n; j++)
			if (bufs[i][0] == 'A' + j)
				break;
		ATF_REQUIRE_MSG(j < n && !used[j] &&
		    memcmp(bufs[i], data + j * len, len) == 0,
		    "read %d got \"%.*s\"", i, (int)len, bufs[i]);
		used[j] = true;
	}
}

H_TC(close_in_flight_pipe, "a pending pipe read survives close() of its fd")
ATF_TC_BODY(close_in_flight_pipe, tc)
{

	gone_while_pending(1, 10, -1, false);
}

H_TC(close_queued_pipe, "4 pending pipe reads survive close() of their fd")
ATF_TC_BODY(close_queued_pipe, tc)
{

	gone_while_pending(4, 10, -1, false);
}

H_TC(dup2_in_flight_pipe, "a pending pipe read survives dup2() over its fd")
ATF_TC_BODY(dup2_in_flight_pipe, tc)
{
	char got[16];
	int q[2];

	/* Another pipe with data of its own, dup2'ed over the read end. */
	h_pipe(q);
	h_write_all(q[1], "qqqqqqqqqq", 10);
	gone_while_pending(1, 10, q[0], false);
	ATF_REQUIRE_EQ(read(q[0], got, sizeof(got)), 10);
	ATF_REQUIRE(memcmp(got, "qqqqqqqqqq", 10) == 0);
}

H_TC(dup2_queued_pipe, "4 pending pipe reads survive dup2() over their fd")
ATF_TC_BODY(dup2_queued_pipe, tc)
{
	char got[64];
	int q[2];

	h_pipe(q);
	h_write_all(q[1], "qqqqqqqqqq", 10);
	gone_while_pending(4, 10, q[0], false);
	ATF_REQUIRE_EQ(read(q[0], got, sizeof(got)), 10);
	ATF_REQUIRE(memcmp(got, "qqqqqqqqqq", 10) == 0);
}

H_TC(close_in_flight_socket, "a pending socket read survives close() of its "
    "fd")
ATF_TC_BODY(close_in_flight_socket, tc)
{

	gone_while_pending(1, 10, -1, true);
}

H_TC(close_queued_socket, "4 pending socket reads survive close() of their "
    "fd")
ATF_TC_BODY(close_queued_socket, tc)
{

	gone_while_pending(4, 10, -1, true);
}

/* Another socket pair with data of its own, to dup2 over the reader. */
static void
dup2_socket(int n)
{
	char got[64];
	int q[2];

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, q) == 0);
	h_write_all(q[1], "qqqqqqqqqq", 10);
	gone_while_pending(n, 10, q[0], true);
	ATF_REQUIRE_EQ(read(q[0], got, sizeof(got)), 10);
	ATF_REQUIRE(memcmp(got, "qqqqqqqqqq", 10) == 0);
}

H_TC(dup2_in_flight_socket, "a pending socket read survives dup2() over its "
    "fd")
ATF_TC_BODY(dup2_in_flight_socket, tc)
{

	dup2_socket(1);
}

H_TC(dup2_queued_socket, "4 pending socket reads survive dup2() over their "
    "fd")
ATF_TC_BODY(dup2_queued_socket, tc)
{

	dup2_socket(4);
}

H_TC(close_queued_file, "writes queued on a file complete after close()")
ATF_TC_BODY(close_queued_file, tc)
{
	enum { N = 32, BS = 64 * 1024 };
	static char data[N * BS], back[N * BS];
	struct aiocb cb[N];
	int fd, d, i, e;

	h_fill(data, sizeof(data), 73);
	fd = h_file("f", NULL, 0);
	for (i = 0; i < N; i++) {
		h_cb(&cb[i], fd, data + (size_t)i * BS, BS, (off_t)i * BS);
		ATF_REQUIRE_EQ(aio_write(&cb[i]), 0);
	}
	ATF_REQUIRE(close(fd) == 0);
	/* Reuse the number at once: nothing may be written through it. */
	d = open("decoy", O_RDWR | O_CREAT | O_TRUNC, 0600);
	ATF_REQUIRE(d != -1);
	if (d != fd) {
		ATF_REQUIRE(dup2(d, fd) == fd);
		ATF_REQUIRE(close(d) == 0);
	}
	for (i = 0; i < N; i++) {
		e = h_wait(&cb[i]);
		ATF_REQUIRE_MSG(e == 0, "write %d failed with %d (%s) after "
		    "close()", i, e, strerror(e));
		H_EQ(aio_return(&cb[i]), BS);
	}
	H_EQ(h_size(fd), 0);
	ATF_REQUIRE(close(fd) == 0);
	fd = open("f", O_RDONLY);
	ATF_REQUIRE(fd != -1);
	ATF_REQUIRE_EQ(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	ATF_REQUIRE(memcmp(back, data, sizeof(data)) == 0);
}

H_TC(dup2_queued_file, "reads and writes queued on a file go to that file "
    "after dup2() over its fd")
ATF_TC_BODY(dup2_queued_file, tc)
{
	enum { N = 16, BS = 64 * 1024 };
	static char orig[N * BS], data[N * BS], other[2 * N * BS];
	static char rb[N][BS], back[2 * N * BS];
	struct aiocb wcb[N], rcb[N];
	int fd, d, i, e;

	/*
	 * The file's first half is read, its second half written; the
	 * writes are queued first, so the reads wait behind them.  The
	 * decoy dup2'ed over the descriptor has other data of the same
	 * size: a read through the number would not come up short.
	 */
	h_fill(orig, sizeof(orig), 74);
	h_fill(data, sizeof(data), 75);
	h_fill(other, sizeof(other), 76);
	fd = h_file("f", orig, sizeof(orig));
	d = h_file("decoy", other, sizeof(other));
	for (i = 0; i < N; i++) {
		h_cb(&wcb[i], fd, data + (size_t)i * BS, BS,
		    (off_t)(N + i) * BS);
		ATF_REQUIRE_EQ(aio_write(&wcb[i]), 0);
	}
	for (i = 0; i < N; i++) {
		h_cb(&rcb[i], fd, rb[i], BS, (off_t)i * BS);
		ATF_REQUIRE_EQ(aio_read(&rcb[i]), 0);
	}
	ATF_REQUIRE(dup2(d, fd) == fd);
	for (i = 0; i < N; i++) {
		e = h_wait(&wcb[i]);
		ATF_REQUIRE_MSG(e == 0, "write %d failed with %d (%s) after "
		    "dup2()", i, e, strerror(e));
		H_EQ(aio_return(&wcb[i]), BS);
	}
	for (i = 0; i < N; i++) {
		e = h_wait(&rcb[i]);
		ATF_REQUIRE_MSG(e == 0, "read %d failed with %d (%s) after "
		    "dup2()", i, e, strerror(e));
		H_EQ(aio_return(&rcb[i]), BS);
		ATF_REQUIRE_MSG(memcmp(rb[i], orig + (size_t)i * BS, BS) == 0,
		    "read %d (queued before dup2) got other data", i);
	}
	/* The decoy is untouched, the file has both halves. */
	H_EQ(h_size(d), sizeof(other));
	ATF_REQUIRE_EQ(pread(d, back, sizeof(back), 0), (ssize_t)sizeof(back));
	ATF_REQUIRE_MSG(memcmp(back, other, sizeof(other)) == 0,
	    "writes queued before dup2() landed in the decoy");
	ATF_REQUIRE(close(d) == 0);
	ATF_REQUIRE(close(fd) == 0);
	fd = open("f", O_RDONLY);
	ATF_REQUIRE(fd != -1);
	H_EQ(h_size(fd), 2 * N * BS);
	ATF_REQUIRE_EQ(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	ATF_REQUIRE(memcmp(back, orig, sizeof(orig)) == 0);
	ATF_REQUIRE_MSG(memcmp(back + sizeof(orig), data, sizeof(data)) == 0,
	    "writes queued before dup2() are not in the file");
	ATF_REQUIRE(close(fd) == 0);
}

/* Reads `n' blocks of 4 KiB one at a time through AIO and checks them. */
static void
h_read_blocks(int fd, const char *want, int n)
{
	struct aiocb cb;
	char *buf;
	int i;

	ATF_REQUIRE(posix_memalign((void **)&buf, 4096, 4096) == 0);
	for (i = 0; i < n; i++) {
		memset(buf, 0, 4096);
		h_cb(&cb, fd, buf, 4096, (off_t)i * 4096);
		ATF_REQUIRE_EQ(aio_read(&cb), 0);
		h_wait_ok(&cb, 4096);
		ATF_REQUIRE_MSG(memcmp(buf, want + (size_t)i * 4096, 4096) == 0,
		    "block %d differs", i);
	}
	free(buf);
}

H_TC(reused_fd_flags, "a descriptor number closed and reopened on another "
    "file with O_DIRECT, then set back with F_SETFL, reads the right data")
ATF_TC_BODY(reused_fd_flags, tc)
{
	enum { N = 4 };
	static char a[N * 4096], b[N * 4096];
	int fd, fd2, fl;

	h_fill(a, sizeof(a), 5);
	h_fill(b, sizeof(b), 6);
	ATF_REQUIRE(close(h_file("a", a, sizeof(a))) == 0);
	ATF_REQUIRE(close(h_file("b", b, sizeof(b))) == 0);
	fd = open("a", O_RDONLY);
	ATF_REQUIRE(fd != -1);
	h_read_blocks(fd, a, N);
	ATF_REQUIRE(close(fd) == 0);
	fd2 = open("b", O_RDONLY | O_DIRECT);
	if (fd2 == -1 && errno == EINVAL)
		atf_tc_skip("O_DIRECT is not supported here");
	ATF_REQUIRE(fd2 != -1);
	ATF_REQUIRE_EQ(fd2, fd);	/* the lowest free number */
	h_read_blocks(fd2, b, N);
	fl = fcntl(fd2, F_GETFL);
	ATF_REQUIRE(fl != -1);
	ATF_REQUIRE(fcntl(fd2, F_SETFL, fl & ~O_DIRECT) == 0);
	h_read_blocks(fd2, b, N);
	ATF_REQUIRE(fcntl(fd2, F_SETFL, fl | O_DIRECT) == 0);
	h_read_blocks(fd2, b, N);
	ATF_REQUIRE(close(fd2) == 0);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, pipe_read);
	ATF_TP_ADD_TC(tp, pipe_write);
	ATF_TP_ADD_TC(tp, pipe_write_big);
	ATF_TP_ADD_TC(tp, socketpair_rw);
	ATF_TP_ADD_TC(tp, independent_progress);
	ATF_TP_ADD_TC(tp, append_order);
	ATF_TP_ADD_TC(tp, append_set_in_flight);
	ATF_TP_ADD_TC(tp, append_cleared_in_flight);
	ATF_TP_ADD_TC(tp, close_in_flight_pipe);
	ATF_TP_ADD_TC(tp, close_queued_pipe);
	ATF_TP_ADD_TC(tp, dup2_in_flight_pipe);
	ATF_TP_ADD_TC(tp, dup2_queued_pipe);
	ATF_TP_ADD_TC(tp, close_in_flight_socket);
	ATF_TP_ADD_TC(tp, close_queued_socket);
	ATF_TP_ADD_TC(tp, dup2_in_flight_socket);
	ATF_TP_ADD_TC(tp, dup2_queued_socket);
	ATF_TP_ADD_TC(tp, close_queued_file);
	ATF_TP_ADD_TC(tp, dup2_queued_file);
	ATF_TP_ADD_TC(tp, reused_fd_flags);
	return atf_no_error();
}
