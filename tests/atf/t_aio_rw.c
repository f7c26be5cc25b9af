/*
 * t_aio_rw: aio_read() and aio_write() on regular files.
 *
 * Covers the data path: round trips, absolute offsets (including holes
 * and offsets past 4 GiB), short reads at end of file, zero-length
 * transfers, many operations in flight at once, the byte count returned
 * by aio_return(), and that the fields the caller set in the aiocb
 * (aio_fildes, aio_buf, aio_nbytes, aio_offset, ...) are not modified by
 * the implementation (POSIX gives the application ownership of them).
 *
 * t_aio_rw64.c includes this file with _FILE_OFFSET_BITS=64, so on glibc
 * the same cases exercise the aio_*64 entry points.
 */

#include "h_aio.h"

H_TC(write_read_roundtrip, "aio_write then aio_read of 1 MiB round-trips")
ATF_TC_BODY(write_read_roundtrip, tc)
{
	const size_t len = 1024 * 1024;
	struct aiocb cb;
	char *wbuf, *rbuf, *pbuf;
	int fd;

	wbuf = malloc(len);
	rbuf = malloc(len);
	pbuf = malloc(len);
	ATF_REQUIRE(wbuf != NULL && rbuf != NULL && pbuf != NULL);
	h_fill(wbuf, len, 1);
	memset(rbuf, 0, len);
	fd = h_file("f", NULL, 0);

	h_cb(&cb, fd, wbuf, len, 0);
	ATF_REQUIRE_EQ(aio_write(&cb), 0);
	h_wait_ok(&cb, (ssize_t)len);
	H_EQ(h_size(fd), len);

	/* Check the file with plain pread, independent of aio_read. */
	ATF_REQUIRE_EQ(pread(fd, pbuf, len, 0), (ssize_t)len);
	ATF_REQUIRE_MSG(memcmp(pbuf, wbuf, len) == 0,
	    "file content differs from what aio_write wrote");

	h_cb(&cb, fd, rbuf, len, 0);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_wait_ok(&cb, (ssize_t)len);
	ATF_REQUIRE_MSG(memcmp(rbuf, wbuf, len) == 0,
	    "aio_read returned different data");

	free(wbuf);
	free(rbuf);
	free(pbuf);
	ATF_REQUIRE(close(fd) == 0);
}

H_TC(offsets, "aio_offset selects the absolute position, holes read as 0")
ATF_TC_BODY(offsets, tc)
{
	static const off_t order[4] = { 3000, 0, 2000, 1000 };
	char data[4000], back[4000], buf[1000], hole[200];
	struct aiocb cb[4], rc;
	int fd, i;

	h_fill(data, sizeof(data), 2);
	fd = h_file("f", NULL, 0);

	/* Four writes in flight at once, submitted out of order. */
	for (i = 0; i < 4; i++) {
		h_cb(&cb[i], fd, data + order[i], 1000, order[i]);
		ATF_REQUIRE_EQ(aio_write(&cb[i]), 0);
	}
	for (i = 0; i < 4; i++)
		h_wait_ok(&cb[i], 1000);
	H_EQ(h_size(fd), 4000);
	ATF_REQUIRE_EQ(pread(fd, back, sizeof(back), 0), 4000);
	ATF_REQUIRE_MSG(memcmp(back, data, sizeof(data)) == 0,
	    "writes did not land at their aio_offset");

	/* A read from the middle. */
	h_cb(&rc, fd, buf, sizeof(buf), 1500);
	ATF_REQUIRE_EQ(aio_read(&rc), 0);
	h_wait_ok(&rc, 1000);
	ATF_REQUIRE(memcmp(buf, data + 1500, 1000) == 0);

	/* A write past the end leaves a hole that reads back as zeros. */
	h_cb(&rc, fd, data, 100, 10000);
	ATF_REQUIRE_EQ(aio_write(&rc), 0);
	h_wait_ok(&rc, 100);
	H_EQ(h_size(fd), 10100);
	memset(hole, 0x55, sizeof(hole));
	h_cb(&rc, fd, hole, sizeof(hole), 3900);
	ATF_REQUIRE_EQ(aio_read(&rc), 0);
	h_wait_ok(&rc, sizeof(hole));
	ATF_REQUIRE(memcmp(hole, data + 3900, 100) == 0);
	for (i = 100; i < (int)sizeof(hole); i++)
		ATF_REQUIRE_MSG(hole[i] == 0, "hole byte %d is %#x",
		    3900 + i, (unsigned char)hole[i]);
	ATF_REQUIRE(close(fd) == 0);
}

H_TC(large_offset, "offsets beyond 4 GiB are not truncated")
ATF_TC_BODY(large_offset, tc)
{
	const off_t off = (off_t)5 * 1024 * 1024 * 1024 + 12345;
	char data[512], back[512];
	struct aiocb cb;
	int fd;

	if (sizeof(off_t) < 8)
		atf_tc_skip("off_t is %zu bytes", sizeof(off_t));
	h_fill(data, sizeof(data), 3);
	fd = h_file("f", NULL, 0);
	/*
	 * Whether the file system takes such a file at all: tmpfs, for one,
	 * refuses a sparse 5 GiB file larger than its size limit (ENOSPC).
	 */
	if (pwrite(fd, data, 1, off) != 1) {
		int e = errno;

		atf_tc_skip("the file system refuses a write at 5 GiB "
		    "(pwrite: %s)", strerror(e));
	}
	ATF_REQUIRE(ftruncate(fd, 0) == 0);
	h_cb(&cb, fd, data, sizeof(data), off);
	ATF_REQUIRE_EQ(aio_write(&cb), 0);
	if (h_wait(&cb) == EFBIG) {
		(void)aio_return(&cb);
		atf_tc_skip("file system does not allow 5 GiB files");
	}
	H_EQ(aio_return(&cb), sizeof(data));
	H_EQ(h_size(fd), off + (off_t)sizeof(data));
	ATF_REQUIRE_EQ(pread(fd, back, sizeof(back), off),
	    (ssize_t)sizeof(back));
	ATF_REQUIRE(memcmp(back, data, sizeof(data)) == 0);

	memset(back, 0, sizeof(back));
	h_cb(&cb, fd, back, sizeof(back), off);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_wait_ok(&cb, sizeof(back));
	ATF_REQUIRE(memcmp(back, data, sizeof(data)) == 0);
	/* Nothing was written at the offset truncated to 32 bits. */
	ATF_REQUIRE_EQ(pread(fd, back, 16, (off_t)(uint32_t)off), 16);
	ATF_REQUIRE(memcmp(back, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);
	ATF_REQUIRE(close(fd) == 0);
}

H_TC(short_read_eof, "a read crossing end of file returns the short count")
ATF_TC_BODY(short_read_eof, tc)
{
	char data[100], buf[200];
	struct aiocb cb;
	int fd, i;

	h_fill(data, sizeof(data), 4);
	fd = h_file("f", data, sizeof(data));

	memset(buf, 0x77, sizeof(buf));
	h_cb(&cb, fd, buf, 200, 50);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_wait_ok(&cb, 50);
	ATF_REQUIRE(memcmp(buf, data + 50, 50) == 0);
	for (i = 50; i < 200; i++)
		ATF_REQUIRE_MSG((unsigned char)buf[i] == 0x77,
		    "byte %d past the short count was modified", i);

	/* At and beyond end of file: 0 bytes. */
	h_cb(&cb, fd, buf, 200, 100);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_wait_ok(&cb, 0);
	h_cb(&cb, fd, buf, 200, 1000000);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_wait_ok(&cb, 0);
	ATF_REQUIRE(close(fd) == 0);
}

H_TC(zero_bytes, "reads and writes of 0 bytes complete with 0")
ATF_TC_BODY(zero_bytes, tc)
{
	char data[64], buf[64];
	struct aiocb cb;
	int fd, i;

	h_fill(data, sizeof(data), 5);
	fd = h_file("f", data, sizeof(data));

	memset(buf, 0x33, sizeof(buf));
	h_cb(&cb, fd, buf, 0, 0);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_wait_ok(&cb, 0);
	for (i = 0; i < (int)sizeof(buf); i++)
		ATF_REQUIRE(buf[i] == 0x33);

	h_cb(&cb, fd, buf, 0, 1000);
	ATF_REQUIRE_EQ(aio_write(&cb), 0);
	h_wait_ok(&cb, 0);
	H_EQ(h_size(fd), sizeof(data));
	ATF_REQUIRE(close(fd) == 0);
}

static void
check_fields(const struct aiocb *cb, int fd, const void *buf, size_t n,
    off_t off, int sigval)
{

	ATF_REQUIRE_EQ(cb->aio_fildes, fd);
	ATF_REQUIRE(cb->aio_buf == buf);
	H_EQ(cb->aio_nbytes, n);
	H_EQ(cb->aio_offset, off);
	ATF_REQUIRE_EQ(cb->aio_reqprio, 0);
	ATF_REQUIRE_EQ(cb->aio_sigevent.sigev_notify, SIGEV_NONE);
	ATF_REQUIRE_EQ(cb->aio_sigevent.sigev_value.sival_int, sigval);
}

H_TC(fields_unchanged, "user-set aiocb fields are unchanged by the I/O")
ATF_TC_BODY(fields_unchanged, tc)
{
	char data[300], buf[300];
	struct aiocb cb;
	int fd;

	h_fill(data, sizeof(data), 6);
	fd = h_file("f", data, sizeof(data));

	/* Full read. */
	h_cb(&cb, fd, buf, 100, 17);
	cb.aio_sigevent.sigev_value.sival_int = 4242;
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	ATF_REQUIRE(h_wait(&cb) == 0);
	check_fields(&cb, fd, buf, 100, 17, 4242);
	H_EQ(aio_return(&cb), 100);
	check_fields(&cb, fd, buf, 100, 17, 4242);

	/* Short read: aio_nbytes must still be the requested size. */
	h_cb(&cb, fd, buf, 300, 250);
	cb.aio_sigevent.sigev_value.sival_int = 4343;
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	ATF_REQUIRE(h_wait(&cb) == 0);
	check_fields(&cb, fd, buf, 300, 250, 4343);
	H_EQ(aio_return(&cb), 50);
	check_fields(&cb, fd, buf, 300, 250, 4343);

	/* Write: aio_offset must not advance. */
	h_cb(&cb, fd, data, 200, 1000);
	cb.aio_sigevent.sigev_value.sival_int = 4444;
	ATF_REQUIRE_EQ(aio_write(&cb), 0);
	ATF_REQUIRE(h_wait(&cb) == 0);
	check_fields(&cb, fd, data, 200, 1000, 4444);
	H_EQ(aio_return(&cb), 200);
	check_fields(&cb, fd, data, 200, 1000, 4444);
	ATF_REQUIRE(close(fd) == 0);
}

H_TC(many_in_flight, "64 reads in flight at once each get their own block")
ATF_TC_BODY(many_in_flight, tc)
{
	enum { N = 64, BS = 4096 };
	static char data[N * BS], bufs[N][BS];
	struct aiocb cb[N];
	int fd, i;

	h_fill(data, sizeof(data), 7);
	fd = h_file("f", data, sizeof(data));
	memset(bufs, 0, sizeof(bufs));
	/* Submit in a scrambled order so offsets are not sequential. */
	for (i = 0; i < N; i++) {
		int blk = (i * 37) % N;

		h_cb(&cb[i], fd, bufs[i], BS, (off_t)blk * BS);
		ATF_REQUIRE_EQ(aio_read(&cb[i]), 0);
	}
	for (i = 0; i < N; i++) {
		int blk = (i * 37) % N;

		h_wait_ok(&cb[i], BS);
		ATF_REQUIRE_MSG(memcmp(bufs[i], data + blk * BS, BS) == 0,
		    "read %d (block %d) returned wrong data", i, blk);
	}
	ATF_REQUIRE(close(fd) == 0);
}

H_TC(reuse_aiocb, "an aiocb can be reused after aio_return")
ATF_TC_BODY(reuse_aiocb, tc)
{
	char data[1000], buf[100];
	struct aiocb cb;
	int fd, i;

	h_fill(data, sizeof(data), 8);
	fd = h_file("f", data, sizeof(data));
	h_cb(&cb, fd, buf, sizeof(buf), 0);
	for (i = 0; i < 10; i++) {
		cb.aio_offset = (off_t)i * 100;
		ATF_REQUIRE_EQ(aio_read(&cb), 0);
		h_wait_ok(&cb, 100);
		ATF_REQUIRE_MSG(memcmp(buf, data + i * 100, 100) == 0,
		    "iteration %d read wrong data", i);
	}
	ATF_REQUIRE(close(fd) == 0);
}

/*
 * A large read of cached data is not copied inside aio_read(): the
 * caller gets control back while the copy is still in progress (AIO
 * exists so that the caller does not wait for it).  64 MiB take several
 * milliseconds to copy; aio_error() right after aio_read() must see
 * EINPROGRESS in at least one of five tries (a try can lose the CPU).
 */
#define BIG_READ	(64 << 20)

H_TC(large_read_not_inline, "a large read of cached data completes "
    "after aio_read returns")
ATF_TC_BODY(large_read_not_inline, tc)
{
	struct aiocb cb;
	char *buf;
	int fd, i, inprogress = 0;

	buf = malloc(BIG_READ);
	ATF_REQUIRE(buf != NULL);
	h_fill(buf, BIG_READ, 7);
	fd = h_file("big", buf, BIG_READ);
	ATF_REQUIRE(pread(fd, buf, BIG_READ, 0) == BIG_READ);	/* cached */
	for (i = 0; i < 5; i++) {
		memset(buf, 0, BIG_READ);
		h_cb(&cb, fd, buf, BIG_READ, 0);
		ATF_REQUIRE_EQ(aio_read(&cb), 0);
		inprogress += aio_error(&cb) == EINPROGRESS;
		h_wait_ok(&cb, BIG_READ);
	}
	free(buf);
	ATF_REQUIRE_MSG(inprogress > 0, "every 64 MiB read was complete "
	    "when aio_read returned: the caller waited for the copy");
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, write_read_roundtrip);
	ATF_TP_ADD_TC(tp, large_read_not_inline);
	ATF_TP_ADD_TC(tp, offsets);
	ATF_TP_ADD_TC(tp, large_offset);
	ATF_TP_ADD_TC(tp, short_read_eof);
	ATF_TP_ADD_TC(tp, zero_bytes);
	ATF_TP_ADD_TC(tp, fields_unchanged);
	ATF_TP_ADD_TC(tp, many_in_flight);
	ATF_TP_ADD_TC(tp, reuse_aiocb);
	return atf_no_error();
}
