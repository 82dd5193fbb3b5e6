/* progress: a progress bar on a terminal, or JSON progress lines (contract in progress.h). */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_WIN	  8   /* rate samples kept */
#define PROGRESS_WIN_SECS 5.0 /* rate averaged over about this long */
#define PROGRESS_BAR_MIN  10
#define PROGRESS_BAR_MAX  40
#define PROGRESS_LINE_MAX 256

static double progress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int progress_auto_mode(void)
{
	return isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_JSON;
}

void progress_init(struct progress *p, int mode, const char *label)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->label = label;
	p->start = progress_now();
	p->last_draw = -1e9;
	p->win_t[0] = p->start;
	p->win_n = 1;
}

const char *progress_bytes(uint64_t n, char *buf, int cap)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, (size_t)cap, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, (size_t)cap, "%.1f %s", v, units[u]);
	return buf;
}

/* Add a (now, moved) sample at most every PROGRESS_WIN_SECS / PROGRESS_WIN. */
static void progress_sample(struct progress *p, double now)
{
	if (now - p->win_t[p->win_i] < PROGRESS_WIN_SECS / PROGRESS_WIN)
		return;
	p->win_i = (p->win_i + 1) % PROGRESS_WIN;
	p->win_t[p->win_i] = now;
	p->win_b[p->win_i] = p->last.moved;
	if (p->win_n < PROGRESS_WIN)
		p->win_n++;
}

double progress_rate(const struct progress *p)
{
	int oldest = p->win_n < PROGRESS_WIN ? 0 : (p->win_i + 1) % PROGRESS_WIN;
	double dt = progress_now() - p->win_t[oldest];

	if (dt < 0.2 || p->last.moved < p->win_b[oldest])
		return 0;
	return (double)(p->last.moved - p->win_b[oldest]) / dt;
}

static int progress_cols(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col < PROGRESS_LINE_MAX ? ws.ws_col : PROGRESS_LINE_MAX - 1;
	return 80;
}

static void progress_eta(double secs, char *buf, size_t cap)
{
	unsigned long s;

	if (secs < 0 || secs > 99 * 3600.0) {
		snprintf(buf, cap, "--:--");
		return;
	}
	s = (unsigned long)(secs + 0.5);
	if (s >= 3600)
		snprintf(buf, cap, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, cap, "%lu:%02lu", s / 60, s % 60);
}

/* "[####....] 52% 770.8 KiB/1.4 MiB 451.4 KiB/s ETA 0:02 12/30 blocks", the bar as wide as
 * the terminal allows, the label in front when there is room. */
static void progress_draw_bar(struct progress *p)
{
	const struct progress_counts *c = &p->last;
	char line[PROGRESS_LINE_MAX], rest[PROGRESS_LINE_MAX], bar[PROGRESS_BAR_MAX + 1];
	char done[24], total[24], rate[24], eta[24];
	double r = progress_rate(p),
	       frac = c->total_bytes ? (double)c->done_bytes / (double)c->total_bytes : 0;
	int i, n, width, cols = progress_cols(), label = p->label ? (int)strlen(p->label) + 1 : 0;

	if (frac > 1)
		frac = 1;
	progress_eta(r > 0 ? (double)(c->total_bytes - c->done_bytes) / r : -1, eta, sizeof(eta));
	n = snprintf(rest, sizeof(rest), " %3d%% %s/%s %s/s ETA %s %llu/%llu blocks",
		     (int)(frac * 100), progress_bytes(c->done_bytes, done, sizeof(done)),
		     progress_bytes(c->total_bytes, total, sizeof(total)),
		     progress_bytes((uint64_t)r, rate, sizeof(rate)), eta,
		     (unsigned long long)c->blocks_done, (unsigned long long)c->blocks_total);
	width = cols - 1 - n - 2;
	if (width - label >= PROGRESS_BAR_MIN)
		width -= label;
	else
		label = 0;
	width = width < PROGRESS_BAR_MIN   ? PROGRESS_BAR_MIN
		: width > PROGRESS_BAR_MAX ? PROGRESS_BAR_MAX
					   : width;
	for (i = 0; i < width; i++)
		bar[i] = i < (int)(frac * width) ? '#' : '.';
	bar[width] = '\0';
	n = snprintf(line, sizeof(line), "%s%s[%s]%s", label ? p->label : "", label ? " " : "", bar,
		     rest);
	if (n >= cols)
		n = cols - 1;
	if (n < 0)
		n = 0;
	fprintf(stderr, "\r%.*s", n, line);
	for (i = n; i < p->drawn_width; i++)
		fputc(' ', stderr);
	p->drawn_width = n;
	fflush(stderr);
}

static void progress_counts_json(struct jsonw *w, const struct progress *p)
{
	const struct progress_counts *c = &p->last;

	jw_ku64(w, "done_bytes", c->done_bytes);
	jw_ku64(w, "total_bytes", c->total_bytes);
	jw_ku64(w, "blocks_done", c->blocks_done);
	jw_ku64(w, "blocks_total", c->blocks_total);
	jw_kdbl(w, "rate", progress_rate(p));
}

static void progress_json_line(struct progress *p, bool final,
			       void (*extra)(struct jsonw *w, void *ctx), void *ctx)
{
	struct jsonw w;
	const char *text;

	jw_init(&w, 1 << 20);
	jw_obj(&w);
	if (final)
		jw_kbool(&w, "done", true);
	progress_counts_json(&w, p);
	if (extra)
		extra(&w, ctx);
	jw_obj_end(&w);
	text = jw_text(&w);
	if (text) {
		fputs(text, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	jw_free(&w);
}

void progress_set(struct progress *p, const struct progress_counts *c, bool force)
{
	double now = progress_now(),
	       hz = p->mode == PROGRESS_BAR ? PROGRESS_BAR_HZ : PROGRESS_JSON_HZ;

	p->last = *c;
	progress_sample(p, now);
	if (p->mode == PROGRESS_NONE || (!force && now - p->last_draw < 1.0 / hz))
		return;
	p->last_draw = now;
	if (p->mode == PROGRESS_BAR)
		progress_draw_bar(p);
	else
		progress_json_line(p, false, NULL, NULL);
}

void progress_end(struct progress *p, void (*extra)(struct jsonw *w, void *ctx), void *ctx)
{
	int i;

	if (p->mode == PROGRESS_BAR && p->drawn_width) {
		fputc('\r', stderr);
		for (i = 0; i < p->drawn_width; i++)
			fputc(' ', stderr);
		fputc('\r', stderr);
		fflush(stderr);
		p->drawn_width = 0;
	} else if (p->mode == PROGRESS_JSON) {
		progress_json_line(p, true, extra, ctx);
	}
}
