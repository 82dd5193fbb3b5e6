/* fetch_post: a streamed multipart HTTP POST over libcurl (contract in fetch_post.h). */
#include "fetch_post.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "dynbuf.h"
#include "version.h"

struct fp_call {
	const struct fetch_post_req *r;
	struct dynbuf body;
	int read_err; /* the read callback's error */
	int too_big;
};

static size_t fp_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct fp_call *c = arg;
	ssize_t n = c->r->read(c->r->ctx, buf, size * nitems);

	if (n < 0) {
		c->read_err = (int)n;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)n;
}

static size_t fp_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct fp_call *c = arg;

	if (dynbuf_append(&c->body, ptr, size * nmemb)) {
		c->too_big = 1;
		return 0;
	}
	return size * nmemb;
}

static int fp_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static void fp_setup(CURL *h, const struct fetch_post_req *r, struct fp_call *c, char *cerr)
{
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fp_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(r->connect_timeout_ms > 0 ? r->connect_timeout_ms : 5000));
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
			 (long)((r->stall_timeout_ms > 0 ? r->stall_timeout_ms : 60000) + 999) /
			     1000);
	if (r->timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mpackfs/" MPACK_VERSION);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
}

/* The multipart body: one part streamed from r->read. */
static curl_mime *fp_mime(CURL *h, const struct fetch_post_req *r, struct fp_call *c)
{
	curl_mime *mime = curl_mime_init(h);
	curl_mimepart *part = mime ? curl_mime_addpart(mime) : NULL;

	if (!part || curl_mime_name(part, r->field) ||
	    (r->filename && curl_mime_filename(part, r->filename)) ||
	    curl_mime_type(part, r->content_type ? r->content_type : "application/octet-stream") ||
	    curl_mime_data_cb(part, -1, fp_read, NULL, NULL, c)) {
		curl_mime_free(mime);
		return NULL;
	}
	return mime;
}

static int fp_perform(CURL *h, const struct fetch_post_req *r, struct fp_call *c,
		      struct fetch_post_resp *resp, struct errbuf *e)
{
	char cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
	curl_mime *mime = fp_mime(h, r, c);
	CURLcode cc;
	int rc = 0;

	if (!mime || !hdrs) {
		curl_mime_free(mime);
		curl_slist_free_all(hdrs);
		return err_set(e, -ENOMEM, "POST %s: out of memory", r->url);
	}
	fp_setup(h, r, c, cerr);
	curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(h);
	if (c->read_err)
		rc = err_set(e, c->read_err, "POST %s: upload aborted by its producer", r->url);
	else if (c->too_big)
		rc = err_set(e, -EFBIG, "POST %s: response larger than %zu bytes", r->url,
			     c->body.cap);
	else if (cc != CURLE_OK)
		rc = err_set(e, fp_errno(cc), "POST %s: %s", r->url,
			     cerr[0] ? cerr : curl_easy_strerror(cc));
	if (!rc) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		if (dynbuf_append(&c->body, "", 1))
			rc = err_set(e, -ENOMEM, "POST %s: out of memory", r->url);
	}
	curl_mime_free(mime);
	curl_slist_free_all(hdrs);
	return rc;
}

int fetch_post_multipart(const struct fetch_post_req *r, struct fetch_post_resp *resp,
			 struct errbuf *e)
{
	struct fp_call c = {.r = r};
	CURL *h;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (!r->url || !r->field || !r->read ||
	    (strncmp(r->url, "http://", 7) && strncmp(r->url, "https://", 8)))
		return err_set(e, -EINVAL, "POST: bad request (URL must be http:// or https://)");
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return err_set(e, -EIO, "POST %s: libcurl failed to initialise", r->url);
	h = curl_easy_init();
	if (!h) {
		curl_global_cleanup();
		return err_set(e, -ENOMEM, "POST %s: out of memory", r->url);
	}
	dynbuf_init(&c.body, r->response_cap ? r->response_cap : FETCH_POST_RESPONSE_MAX);
	rc = fp_perform(h, r, &c, resp, e);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	if (rc) {
		dynbuf_free(&c.body);
		return rc;
	}
	resp->body = dynbuf_take(&c.body, &resp->len);
	resp->len--;
	return 0;
}
