/* rastream: sequential-stream detection and readahead window sizing. */
#include "rastream.h"

static uint64_t rastream_grow(uint64_t window, uint64_t consumed)
{
	uint64_t w = window ? window * 2 : RA_MIN;

	if (w > 2 * consumed)
		w = 2 * consumed;
	if (w < RA_MIN)
		w = RA_MIN;
	return w < RA_MAX ? w : RA_MAX;
}

uint64_t rastream_advance(struct rastream *s, uint64_t off, uint64_t end)
{
	if (end > s->next_off) {
		if (off <= s->next_off + s->window ||
		    (s->window && off <= s->next_off + RA_REORDER)) {
			if (!s->window)
				s->start = off;
			s->window = rastream_grow(s->window, end - s->start);
		} else if (off != 0) {
			s->window = 0; /* jumped ahead past the window: random */
		}
		s->next_off = end;
	} else if (s->next_off - end > RA_REORDER) {
		s->window = 0; /* jumped back: a new stream */
		s->next_off = end;
	} /* else a request of this stream that others overtook */
	return s->window;
}
