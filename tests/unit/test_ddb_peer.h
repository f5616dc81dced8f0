/* A fault-injecting HTTP/1.1 peer for the DynamoDB client tests: listens on 127.0.0.1 (free
 * port), keeps connections alive, records every request, and answers from a script (reply i
 * for request i, the last one repeated) or from a callback. Replies can be delayed or can
 * drop the connection without an answer. Header-only: included by test_ddb_*.c. */
#ifndef TEST_DDB_PEER_H
#define TEST_DDB_PEER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PEER_MAX_SCRIPT 32
#define PEER_MAX_REQS 256

typedef struct {
  int status; /* 0: drop the connection without answering */
  const char *body;
  const char *extra_headers; /* "Name: value\r\n" lines or NULL */
  int delay_ms;
} peer_reply;

typedef struct {
  char *head; /* request line and headers, as received */
  char *body;
  size_t body_len;
} peer_request;

typedef struct test_peer test_peer;
/* Dynamic answers: fill *out (strings must stay valid until the reply is written; use the
 * peer's scratch buffer). */
typedef void (*peer_fn)(test_peer *p, const peer_request *req, int index, peer_reply *out);

struct test_peer {
  int fd, port;
  pthread_t thread;
  pthread_mutex_t mu;
  peer_reply script[PEER_MAX_SCRIPT];
  int n_script;
  peer_fn fn;
  void *arg;
  peer_request reqs[PEER_MAX_REQS];
  int n_reqs;
  int n_conns, active;
  volatile int stop;
  char scratch[PEER_MAX_REQS][8192]; /* per request index, for callbacks */
};

typedef struct {
  test_peer *p;
  int fd;
} peer_conn;

static void peer_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Reads until n bytes are in buf or the peer stops; -1 on EOF/error/stop. */
static int peer_fill(test_peer *p, int fd, char **buf, size_t *len, size_t *cap, size_t want) {
  while (*len < want) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, 100);
    if (p->stop) return -1;
    if (r <= 0) continue;
    if (*cap < want + 1) {
      *cap = want + 4096;
      *buf = realloc(*buf, *cap);
    }
    ssize_t n = read(fd, *buf + *len, *cap - *len - 1);
    if (n <= 0) return -1;
    *len += (size_t)n;
    (*buf)[*len] = '\0';
  }
  return 0;
}

static void *peer_conn_main(void *arg) {
  peer_conn *c = arg;
  test_peer *p = c->p;
  char *buf = malloc(8192);
  size_t len = 0, cap = 8192;
  buf[0] = '\0';
  for (;;) {
    char *end;
    while (!(end = strstr(buf, "\r\n\r\n")))
      if (peer_fill(p, c->fd, &buf, &len, &cap, len + 1) != 0) goto out;
    size_t head_len = (size_t)(end - buf) + 4;
    size_t body_len = 0;
    for (char *h = buf; h < end; h++) {
      if ((h == buf || h[-1] == '\n') && !strncasecmp(h, "content-length:", 15)) {
        body_len = strtoul(h + 15, NULL, 10);
        break;
      }
    }
    if (peer_fill(p, c->fd, &buf, &len, &cap, head_len + body_len) != 0) goto out;
    peer_request req = {strndup(buf, head_len - 4), malloc(body_len + 1), body_len};
    memcpy(req.body, buf + head_len, body_len);
    req.body[body_len] = '\0';
    memmove(buf, buf + head_len + body_len, len - head_len - body_len);
    len -= head_len + body_len;
    buf[len] = '\0';

    pthread_mutex_lock(&p->mu);
    int idx = p->n_reqs;
    if (p->n_reqs < PEER_MAX_REQS) p->reqs[p->n_reqs++] = req;
    peer_reply rep = {200, "{}", NULL, 0};
    if (p->n_script) rep = p->script[idx < p->n_script ? idx : p->n_script - 1];
    pthread_mutex_unlock(&p->mu);
    if (p->fn) p->fn(p, &req, idx, &rep);
    if (idx >= PEER_MAX_REQS) {
      free(req.head);
      free(req.body);
    }
    for (int waited = 0; waited < rep.delay_ms && !p->stop; waited += 10) peer_sleep_ms(10);
    if (rep.status == 0) goto out;
    const char *b = rep.body ? rep.body : "";
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d Peer\r\nContent-Type: application/x-amz-json-1.0\r\n"
                      "Content-Length: %zu\r\n%s\r\n",
                      rep.status, strlen(b), rep.extra_headers ? rep.extra_headers : "");
    if (send(c->fd, head, (size_t)hl, MSG_NOSIGNAL) != hl) goto out;
    if (send(c->fd, b, strlen(b), MSG_NOSIGNAL) != (ssize_t)strlen(b)) goto out;
  }
out:
  free(buf);
  close(c->fd);
  free(c);
  pthread_mutex_lock(&p->mu);
  p->active--;
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void *peer_main(void *arg) {
  test_peer *p = arg;
  while (!p->stop) {
    struct pollfd pfd = {p->fd, POLLIN, 0};
    if (poll(&pfd, 1, 50) <= 0) continue;
    int cfd = accept(p->fd, NULL, NULL);
    if (cfd < 0) continue;
    pthread_mutex_lock(&p->mu);
    p->n_conns++;
    p->active++;
    pthread_mutex_unlock(&p->mu);
    peer_conn *c = malloc(sizeof *c);
    c->p = p;
    c->fd = cfd;
    pthread_t t;
    pthread_create(&t, NULL, peer_conn_main, c);
    pthread_detach(t);
  }
  return NULL;
}

static test_peer *peer_start(const peer_reply *script, int n, peer_fn fn) {
  test_peer *p = calloc(1, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  for (int i = 0; i < n && i < PEER_MAX_SCRIPT; i++) p->script[i] = script[i];
  p->n_script = n;
  p->fn = fn;
  p->fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(p->fd, (struct sockaddr *)&a, sizeof a) || listen(p->fd, 64)) abort();
  socklen_t al = sizeof a;
  getsockname(p->fd, (struct sockaddr *)&a, &al);
  p->port = ntohs(a.sin_port);
  pthread_create(&p->thread, NULL, peer_main, p);
  return p;
}

static int peer_count(test_peer *p) {
  pthread_mutex_lock(&p->mu);
  int n = p->n_reqs;
  pthread_mutex_unlock(&p->mu);
  return n;
}

/* The value of header `name` in request i (copied into out), or NULL. */
static const char *peer_header(test_peer *p, int i, const char *name, char *out, size_t n) {
  const char *h = p->reqs[i].head;
  size_t nl = strlen(name);
  for (const char *l = strstr(h, "\r\n"); l; l = strstr(l, "\r\n")) {
    l += 2;
    if (!strncasecmp(l, name, nl) && l[nl] == ':') {
      const char *v = l + nl + 1;
      while (*v == ' ') v++;
      const char *e = strstr(v, "\r\n");
      size_t vl = e ? (size_t)(e - v) : strlen(v);
      if (vl >= n) vl = n - 1;
      memcpy(out, v, vl);
      out[vl] = '\0';
      return out;
    }
  }
  return NULL;
}

static void peer_stop(test_peer *p) {
  p->stop = 1;
  pthread_join(p->thread, NULL);
  close(p->fd);
  /* Connection threads notice `stop` within one poll interval; wait for all of them. */
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&p->mu);
    int active = p->active;
    pthread_mutex_unlock(&p->mu);
    if (!active) break;
    peer_sleep_ms(10);
  }
  for (int i = 0; i < p->n_reqs; i++) {
    free(p->reqs[i].head);
    free(p->reqs[i].body);
  }
  pthread_mutex_destroy(&p->mu);
  free(p);
}

#endif
