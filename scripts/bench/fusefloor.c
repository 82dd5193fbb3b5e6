/* fusefloor: the cheapest FUSE server for a bench baseline. It serves the regular
 * files of one directory read-only, with mpackfs's FUSE settings (async reads,
 * keep_cache, 64 background requests, clone_fd, the mount's read_ahead_kb raised
 * like mpackfs does) and no work of its own: no lookup beyond one directory, no
 * verification, no cache. What it costs over local disk is the kernel's FUSE path.
 *
 * Replies come from a read-only mmap of the file, as mpackfs's come from LMDB's
 * map, and a reader crossing each 4 MiB gets the next 16 MiB read ahead
 * (POSIX_FADV_WILLNEED), as mpackfs prefetches the next leaves.
 *
 * usage: fusefloor [--no-advise] SRCDIR MOUNTPOINT
 * Runs in the foreground until unmounted or signalled. */
#define FUSE_USE_VERSION 34
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 64
#define RA_STEP	  (4 << 20)
#define RA_AHEAD  (16 << 20)
#define RA_KB	  4096 /* the mount's read_ahead_kb, mpackfs's default */

struct ffile {
	char name[NAME_MAX + 1];
	int fd;
	void *map;
	struct stat st;
};

static struct ffile files[MAX_FILES];
static int nfiles, advise = 1;
static const char *mnt;

static void set_attr(struct stat *st, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		*st = files[ino - 2].st;
		st->st_mode = S_IFREG | 0444;
	}
	st->st_ino = ino;
}

static void tune_bdi(void)
{
	char line[4096], path[128], m[4096];
	unsigned maj, min;
	int found = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		return;
	while (!found && fgets(line, sizeof(line), f))
		found =
		    sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, m) == 3 && !strcmp(m, mnt);
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	if ((f = fopen(path, "w"))) {
		fprintf(f, "%u\n", RA_KB);
		fclose(f);
	}
}

static void op_init(void *ud, struct fuse_conn_info *conn)
{
	(void)ud;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param ep;
	int i;

	memset(&ep, 0, sizeof(ep));
	for (i = 0; parent == FUSE_ROOT_ID && i < nfiles; i++)
		if (!strcmp(files[i].name, name)) {
			ep.ino = (fuse_ino_t)i + 2;
			set_attr(&ep.attr, ep.ino);
			ep.attr_timeout = ep.entry_timeout = 86400.0;
			fuse_reply_entry(req, &ep);
			return;
		}
	fuse_reply_err(req, ENOENT);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	set_attr(&st, ino);
	fuse_reply_attr(req, &st, 86400.0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, tune_bdi); /* INIT is done by the first open */
	if (ino == FUSE_ROOT_ID) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct ffile *f = &files[ino - 2];

	(void)fi;
	if (off >= f->st.st_size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((off_t)size > f->st.st_size - off)
		size = (size_t)(f->st.st_size - off);
	if (advise && (off + (off_t)size) / RA_STEP != off / RA_STEP)
		posix_fadvise(f->fd, off + (off_t)size, RA_AHEAD, POSIX_FADV_WILLNEED);
	fuse_reply_buf(req, (const char *)f->map + off, size);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	char buf[65536];
	size_t len = 0, n;
	struct stat st;
	int i;

	(void)ino;
	(void)fi;
	if (size > sizeof(buf))
		size = sizeof(buf);
	for (i = (int)off; i < nfiles; i++) {
		set_attr(&st, (fuse_ino_t)i + 2);
		n = fuse_add_direntry(req, buf + len, size - len, files[i].name, &st, i + 1);
		if (n > size - len)
			break;
		len += n;
	}
	fuse_reply_buf(req, buf, len);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .open = op_open,
    .read = op_read,
    .readdir = op_readdir,
};

static int load_dir(const char *src)
{
	DIR *d = opendir(src);
	struct dirent *de;
	struct ffile *f;
	int dfd;

	if (!d)
		return -1;
	dfd = dirfd(d);
	while ((de = readdir(d)) && nfiles < MAX_FILES) {
		f = &files[nfiles];
		f->fd = openat(dfd, de->d_name, O_RDONLY);
		if (f->fd < 0 || fstat(f->fd, &f->st) || !S_ISREG(f->st.st_mode) ||
		    f->st.st_size == 0 || strlen(de->d_name) > NAME_MAX) {
			if (f->fd >= 0)
				close(f->fd);
			continue;
		}
		f->map = mmap(NULL, (size_t)f->st.st_size, PROT_READ, MAP_SHARED, f->fd, 0);
		if (f->map == MAP_FAILED) {
			close(f->fd);
			continue;
		}
		strcpy(f->name, de->d_name);
		nfiles++;
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	char *fargv[] = {argv[0], "-o", "ro,fsname=fusefloor,subtype=fusefloor", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_session *se;
	struct fuse_loop_config *lc;
	int i = 1, rc = 1;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++)
		if (!strcmp(argv[i], "--no-advise"))
			advise = 0;
	if (argc - i != 2) {
		fprintf(stderr, "usage: fusefloor [--no-advise] SRCDIR MOUNTPOINT\n");
		return 2;
	}
	mnt = argv[i + 1];
	if (load_dir(argv[i]) < 0) {
		perror(argv[i]);
		return 1;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_set_signal_handlers(se) || fuse_session_mount(se, mnt))
		return 1;
	lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(lc, 1);
	rc = fuse_session_loop_mt(se, lc) ? 1 : 0;
	fuse_loop_cfg_destroy(lc);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return rc;
}
