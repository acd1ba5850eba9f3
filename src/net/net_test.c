/* Tests of the net layer: the auth handshake on byte buffers, token files,
 * and real loopback TCP connections on an ephemeral port, attacked by
 * clients with the wrong token, garbage bytes, oversized frames, frames
 * out of turn and silence. Everything runs on this thread's loop, which
 * must close cleanly (nothing leaked) at the end of every test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include <weft/version.h>

#include "base/alloc.h"
#include "net/auth.h"
#include "net/conn.h"
#include "net/tls.h"
#include "wire/buf.h"
#include "wire/frame.h"

#include "testutil.h"
#include "uvtest.h"

/* ------------------------------------------------------------ auth */

/* One whole handshake on buffers; returns the first error. */
static weft_err handshake(const wf_token *server, const wf_token *client)
{
    uint8_t ch[WF_AUTH_CHALLENGE_LEN], resp[WF_AUTH_RESPONSE_LEN],
        wel[WF_AUTH_WELCOME_LEN];
    OK(wf_auth_challenge(ch));
    OK(wf_auth_respond(client, ch, sizeof ch, resp));
    weft_err e = wf_auth_check_response(server, ch, resp, sizeof resp, wel);
    if (e)
        return e;
    return wf_auth_check_welcome(client, ch, resp, wel, sizeof wel);
}

static void test_auth_right_token(void **state)
{
    wf_token a;
    make_token(&a, 'a');
    for (int i = 0; i < 10; i++)
        OK(handshake(&a, &a));
}

static void test_auth_wrong_token(void **state)
{
    wf_token a, b;
    make_token(&a, 'a');
    make_token(&b, 'b');
    /* Server side: a client with the wrong token is refused. */
    assert_int_equal(handshake(&a, &b), WEFT_EPROTO);
    assert_non_null(strstr(weft_last_error(), "does not match"));

    /* Client side: a server with the wrong token is refused, even when it
     * answers a valid-looking WELCOME (made with its own token). */
    uint8_t ch[WF_AUTH_CHALLENGE_LEN], resp[WF_AUTH_RESPONSE_LEN],
        wel[WF_AUTH_WELCOME_LEN];
    OK(wf_auth_challenge(ch));
    OK(wf_auth_respond(&b, ch, sizeof ch, resp));
    OK(wf_auth_check_response(&b, ch, resp, sizeof resp, wel));
    assert_int_equal(wf_auth_check_welcome(&a, ch, resp, wel, sizeof wel),
                     WEFT_EPROTO);
    OK(wf_auth_check_welcome(&b, ch, resp, wel, sizeof wel));
}

static void test_auth_tampered(void **state)
{
    wf_token a;
    make_token(&a, 'a');
    uint8_t ch[WF_AUTH_CHALLENGE_LEN], resp[WF_AUTH_RESPONSE_LEN],
        wel[WF_AUTH_WELCOME_LEN];
    OK(wf_auth_challenge(ch));
    OK(wf_auth_respond(&a, ch, sizeof ch, resp));
    OK(wf_auth_check_response(&a, ch, resp, sizeof resp, wel));
    for (size_t i = 0; i < sizeof resp; i++) {
        resp[i] ^= 0x01;
        assert_int_equal(wf_auth_check_response(&a, ch, resp, sizeof resp, wel),
                         WEFT_EPROTO);
        resp[i] ^= 0x01;
    }
    for (size_t i = 0; i < sizeof ch; i++) {
        ch[i] ^= 0x80;
        assert_int_equal(wf_auth_check_response(&a, ch, resp, sizeof resp, wel),
                         WEFT_EPROTO);
        ch[i] ^= 0x80;
    }
    OK(wf_auth_check_response(&a, ch, resp, sizeof resp, wel));
    for (size_t i = 0; i < sizeof wel; i++) {
        wel[i] ^= 0x10;
        assert_int_equal(wf_auth_check_welcome(&a, ch, resp, wel, sizeof wel),
                         WEFT_EPROTO);
        wel[i] ^= 0x10;
    }
    OK(wf_auth_check_welcome(&a, ch, resp, wel, sizeof wel));
    /* Wrong lengths, and a client MAC replayed as the server's. */
    assert_int_equal(wf_auth_respond(&a, ch, sizeof ch - 1, resp), WEFT_EPROTO);
    assert_int_equal(wf_auth_check_response(&a, ch, resp, sizeof resp - 1, wel),
                     WEFT_EPROTO);
    assert_int_equal(wf_auth_check_welcome(&a, ch, resp, wel, sizeof wel + 1),
                     WEFT_EPROTO);
    assert_int_equal(
        wf_auth_check_welcome(&a, ch, resp, resp + WF_AUTH_NONCE, WF_AUTH_MAC),
        WEFT_EPROTO);
    /* A client that echoes the server nonce as its own is refused. */
    uint8_t echo[WF_AUTH_RESPONSE_LEN];
    memcpy(echo, ch, sizeof ch);
    memcpy(echo + WF_AUTH_NONCE, resp + WF_AUTH_NONCE, WF_AUTH_MAC);
    assert_int_equal(wf_auth_check_response(&a, ch, echo, sizeof echo, wel),
                     WEFT_EPROTO);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_token_files(void **state)
{
    char dir[] = "/tmp/weft_net_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], other[256];
    snprintf(path, sizeof path, "%s/token", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    wf_token t, u;

    OK(wf_token_create(path));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    OK(wf_token_load(path, &t));
    assert_int_equal(t.len, 64);
    assert_int_equal(wf_token_create(path), WEFT_EEXIST);
    OK(wf_token_load(path, &u));
    assert_memory_equal(t.bytes, u.bytes, t.len);
    OK(handshake(&t, &u));

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(wf_token_load(path, &t), WEFT_EINVAL);
    assert_non_null(strstr(weft_last_error(), "0640"));
    assert_int_equal(t.len, 0);
    assert_int_equal(chmod(path, 0604), 0);
    assert_int_equal(wf_token_load(path, &t), WEFT_EINVAL);
    assert_int_equal(chmod(path, 0400), 0);
    OK(wf_token_load(path, &t));

    write_file(other, "0123456789abcde\n", 0600); /* 15 bytes + newline */
    assert_int_equal(wf_token_load(other, &t), WEFT_EINVAL);
    assert_non_null(strstr(weft_last_error(), "at least 16"));
    write_file(other, "0123456789abcdef\n", 0600);
    OK(wf_token_load(other, &t));
    assert_int_equal(t.len, 16);
    char big[WF_TOKEN_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    write_file(other, big, 0600);
    assert_int_equal(wf_token_load(other, &t), WEFT_EINVAL);
    unlink(other);
    assert_int_equal(wf_token_load(other, &t), WEFT_ESYS);
    assert_int_equal(wf_token_load(dir, &t), WEFT_EINVAL); /* a directory */

    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------ network */

/* A server that echoes every frame, and counts why its connections end. */
typedef struct ctx {
    uv_loop_t loop;
    wf_net_server *srv;
    int port;
    wf_token good, bad;
    uint64_t bytes_before;
    int srv_frames;
    int srv_closed;
    int srv_eproto;
    int srv_etimedout;
} ctx;

/* One client connection made with wf_net_connect. */
typedef struct client {
    wf_net_conn *c;
    bool ready, closed;
    weft_err why;
    int frames;
    uint64_t next_seq;
    bool bad_body;
} client;

/* A client speaking raw bytes: what it sends, and whether it was cut. */
typedef struct raw {
    uv_tcp_t tcp;
    uv_connect_t cr;
    uv_write_t wr;
    uint8_t out[128];
    size_t out_len;
    size_t got;
    bool eof, closed;
} raw;

static void srv_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    ctx *x = arg;
    x->srv_frames++;
    OK(wf_net_send(c, f->type, f->seq, f->body, f->body_len));
}

static void srv_close(wf_net_conn *c, weft_err why, void *arg)
{
    ctx *x = arg;
    x->srv_closed++;
    x->srv_eproto += why == WEFT_EPROTO;
    x->srv_etimedout += why == WEFT_ETIMEDOUT;
}

static void setup_server(ctx *x, uint64_t handshake_ms)
{
    memset(x, 0, sizeof *x);
    x->bytes_before = wf_alloc_bytes();
    assert_int_equal(uv_loop_init(&x->loop), 0);
    make_token(&x->good, 'g');
    make_token(&x->bad, 'b');
    wf_net_opts o = {.on_frame = srv_frame,
                     .on_close = srv_close,
                     .arg = x,
                     .handshake_ms = handshake_ms};
    OK(wf_net_server_start(&x->loop, "127.0.0.1", 0, &x->good, &o, &x->srv));
    x->port = wf_net_server_port(x->srv);
    assert_true(x->port > 0);
}

static void teardown_server(ctx *x)
{
    wf_net_server_stop(x->srv);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&x->loop), 0);
    assert_int_equal(wf_alloc_bytes(), x->bytes_before);
}

static void cli_ready(wf_net_conn *c, void *arg)
{
    ((client *)arg)->ready = true;
}

/* Bodies carry (seq + i) & 0xff at byte i, so the echo can be checked. */
static void cli_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    client *k = arg;
    if (f->seq != k->next_seq || f->type != WF_MSG_RUN)
        k->bad_body = true;
    for (uint32_t i = 0; i < f->body_len; i++)
        if (f->body[i] != (uint8_t)(f->seq + i))
            k->bad_body = true;
    k->next_seq++;
    k->frames++;
}

static void cli_close(wf_net_conn *c, weft_err why, void *arg)
{
    client *k = arg;
    k->closed = true;
    k->why = why;
    k->c = NULL;
}

static void connect_client(ctx *x, client *k, const wf_token *t)
{
    memset(k, 0, sizeof *k);
    wf_net_opts o = {.on_frame = cli_frame,
                     .on_ready = cli_ready,
                     .on_close = cli_close,
                     .arg = k};
    OK(wf_net_connect(&x->loop, "127.0.0.1", x->port, t, &o, &k->c));
}

static void send_frame(client *k, uint64_t seq, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(seq + i);
    OK(wf_net_send(k->c, WF_MSG_RUN, seq, b, len));
    free(b);
}

/* n echoed frames of assorted sizes on the authenticated client k. */
static void echo_frames(ctx *x, client *k, int n)
{
    int before = k->frames;
    uint64_t seq0 = k->next_seq;
    for (int i = 0; i < n; i++)
        send_frame(k, seq0 + (uint64_t)i, (size_t)(i * 997) % 5000);
    RUN_UNTIL(x, k->frames == before + n || k->closed);
    assert_false(k->closed);
    assert_false(k->bad_body);
}

static void raw_closed(uv_handle_t *h)
{
    ((raw *)h->data)->closed = true;
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    raw *r = s->data;
    free(buf->base);
    if (n > 0)
        r->got += (size_t)n;
    if (n < 0 && !r->eof) {
        r->eof = true;
        uv_close((uv_handle_t *)&r->tcp, raw_closed);
    }
}

static void raw_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    *buf = uv_buf_init(malloc(4096), 4096);
}

static void raw_connected(uv_connect_t *req, int status)
{
    raw *r = req->data;
    assert_int_equal(status, 0);
    if (r->out_len) {
        uv_buf_t b = uv_buf_init((char *)r->out, (unsigned)r->out_len);
        assert_int_equal(uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, NULL),
                         0);
    }
    assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read),
                     0);
}

/* Connect r to the server and send bytes p[0..n) as soon as connected. */
static void raw_start(ctx *x, raw *r, const void *p, size_t n)
{
    memset(r, 0, sizeof *r);
    assert_true(n <= sizeof r->out);
    if (n)
        memcpy(r->out, p, n);
    r->out_len = n;
    struct sockaddr_in a;
    assert_int_equal(uv_ip4_addr("127.0.0.1", x->port, &a), 0);
    assert_int_equal(uv_tcp_init(&x->loop, &r->tcp), 0);
    r->tcp.data = r;
    r->cr.data = r;
    assert_int_equal(
        uv_tcp_connect(&r->cr, &r->tcp, (struct sockaddr *)&a, raw_connected),
        0);
}

/* A 16-byte frame header, as an attacker would write it. */
static size_t raw_header(uint8_t *p, uint16_t magic, uint8_t type, uint32_t len)
{
    wf_store_le16(p, magic);
    p[2] = WEFT_WIRE_VERSION;
    p[3] = type;
    wf_store_le32(p + 4, len);
    wf_store_le64(p + 8, 7);
    return WF_FRAME_HDR;
}

static void close_client(ctx *x, client *k)
{
    if (k->c)
        wf_net_conn_close(k->c);
    RUN_UNTIL(x, k->closed);
}

static void test_net_echo(void **state)
{
    ctx x;
    client k;
    setup_server(&x, 0);
    connect_client(&x, &k, &x.good);
    assert_int_equal(wf_net_send(k.c, WF_MSG_RUN, 0, "x", 1), WEFT_EINVAL);
    RUN_UNTIL(&x, k.ready || k.closed);
    assert_true(k.ready);
    assert_int_equal(wf_net_send(k.c, WF_MSG_WELCOME, 0, NULL, 0), WEFT_EINVAL);
    echo_frames(&x, &k, scaled_by(200, 4));
    send_frame(&k, k.next_seq, 1 << 20); /* one large body */
    RUN_UNTIL(&x, k.frames == x.srv_frames || k.closed);
    assert_false(k.bad_body);
    close_client(&x, &k);
    assert_int_equal(k.why, 0);
    RUN_UNTIL(&x, x.srv_closed == 1);
    assert_int_equal(x.srv_eproto, 0);
    teardown_server(&x);
}

/* The same over TLS: frames both ways (one large), and a wrong token is
 * still refused; a TLS client of a plaintext server, and a plaintext client
 * of a TLS server, fail, saying TLS is the matter. */
static void test_net_tls(void **state)
{
    ctx x;
    client k, bad;
    wf_tls_set_enabled(true);
    setup_server(&x, 0);
    connect_client(&x, &k, &x.good);
    RUN_UNTIL(&x, k.ready || k.closed);
    assert_true(k.ready);
    echo_frames(&x, &k, scaled_by(50, 5));
    send_frame(&k, k.next_seq, 1 << 20);
    RUN_UNTIL(&x, k.frames == x.srv_frames || k.closed);
    assert_false(k.bad_body);
    connect_client(&x, &bad, &x.bad);
    RUN_UNTIL(&x, bad.closed);
    assert_false(bad.ready);
    close_client(&x, &k);
    teardown_server(&x);

    /* TLS client, plaintext server. */
    wf_tls_set_enabled(false);
    setup_server(&x, 0);
    wf_tls_set_enabled(true);
    connect_client(&x, &k, &x.good);
    RUN_UNTIL(&x, k.closed);
    assert_false(k.ready);
    assert_int_equal(k.why, WEFT_EPROTO);
    teardown_server(&x);

    /* Plaintext client, TLS server (short deadline). */
    setup_server(&x, 300);
    wf_tls_set_enabled(false);
    connect_client(&x, &k, &x.good);
    RUN_UNTIL(&x, k.closed);
    assert_false(k.ready);
    assert_int_equal(k.why, WEFT_EPROTO);
    teardown_server(&x);
}

static void test_net_wrong_token(void **state)
{
    ctx x;
    client good, bad;
    setup_server(&x, 0);
    connect_client(&x, &good, &x.good);
    RUN_UNTIL(&x, good.ready);
    connect_client(&x, &bad, &x.bad);
    RUN_UNTIL(&x, bad.closed);
    assert_false(bad.ready);
    assert_int_not_equal(bad.why, 0);
    RUN_UNTIL(&x, x.srv_eproto == 1);
    assert_int_equal(x.srv_frames, 0);
    echo_frames(&x, &good, 10);
    close_client(&x, &good);
    teardown_server(&x);
}

/* Each attack in turn while a good client keeps working. */
static void attack(ctx *x, client *good, const uint8_t *p, size_t n,
                   int *expect_eproto)
{
    raw r;
    raw_start(x, &r, p, n);
    RUN_UNTIL(x, r.closed);
    assert_true(r.got >= WF_FRAME_HDR + WF_AUTH_CHALLENGE_LEN);
    ++*expect_eproto;
    RUN_UNTIL(x, x->srv_eproto == *expect_eproto);
    echo_frames(x, good, 3);
}

static void test_net_bad_frames(void **state)
{
    ctx x;
    client good;
    int eproto = 0;
    uint8_t p[128];
    setup_server(&x, 0);
    connect_client(&x, &good, &x.good);
    RUN_UNTIL(&x, good.ready);

    /* (d) garbage: bad magic. */
    attack(&x, &good, (const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, &eproto);
    /* (d) a header announcing a body over the 64 MiB limit. */
    attack(
        &x, &good, p,
        raw_header(p, WF_FRAME_MAGIC, WF_MSG_RESPONSE, WF_FRAME_MAX_BODY + 1),
        &eproto);
    /* (d) a valid header, but too big for an unauthenticated peer. */
    attack(&x, &good, p,
           raw_header(p, WF_FRAME_MAGIC, WF_MSG_RESPONSE, 1 << 20), &eproto);
    /* Unknown message type. */
    attack(&x, &good, p, raw_header(p, WF_FRAME_MAGIC, 200, 0), &eproto);
    /* (e) a non-auth frame first. */
    attack(&x, &good, p, raw_header(p, WF_FRAME_MAGIC, WF_MSG_RUN, 0), &eproto);
    /* (e) a RESPONSE of the wrong length. */
    size_t n = raw_header(p, WF_FRAME_MAGIC, WF_MSG_RESPONSE, 4);
    memset(p + n, 0, 4);
    attack(&x, &good, p, n + 4, &eproto);
    /* A forged RESPONSE (right length, made-up MAC). */
    n = raw_header(p, WF_FRAME_MAGIC, WF_MSG_RESPONSE, WF_AUTH_RESPONSE_LEN);
    memset(p + n, 0x5a, WF_AUTH_RESPONSE_LEN);
    attack(&x, &good, p, n + WF_AUTH_RESPONSE_LEN, &eproto);

    assert_int_equal(x.srv_frames, 7 * 3);
    close_client(&x, &good);
    teardown_server(&x);
}

static void test_net_idle_deadline(void **state)
{
    ctx x;
    client good;
    setup_server(&x, 100);
    connect_client(&x, &good, &x.good);
    RUN_UNTIL(&x, good.ready);
    raw idle;
    raw_start(&x, &idle, NULL, 0);
    RUN_UNTIL(&x, idle.closed); /* within RUN_UNTIL's generous bound */
    assert_true(idle.got >= WF_FRAME_HDR + WF_AUTH_CHALLENGE_LEN);
    assert_int_equal(x.srv_etimedout, 1);
    /* The authenticated client outlives the deadline. */
    sleep_ms(150);
    echo_frames(&x, &good, 3);
    close_client(&x, &good);
    teardown_server(&x);
}

static void test_net_connect_refused(void **state)
{
    ctx x;
    client k;
    setup_server(&x, 0);
    int port = x.port;
    wf_net_server_stop(x.srv);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    wf_net_opts o = {.on_frame = srv_frame, .on_close = srv_close, .arg = &x};
    OK(wf_net_server_start(&x.loop, "127.0.0.1", 0, &x.good, &o, &x.srv));
    x.port = port; /* nobody listens there now */
    connect_client(&x, &k, &x.good);
    RUN_UNTIL(&x, k.closed);
    assert_int_equal(k.why, WEFT_EIO);
    assert_int_equal(
        wf_net_server_start(&x.loop, "localhost", 0, &x.good, &o, &x.srv),
        WEFT_EINVAL);
    teardown_server(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_right_token),
        cmocka_unit_test(test_auth_wrong_token),
        cmocka_unit_test(test_auth_tampered),
        cmocka_unit_test(test_token_files),
        cmocka_unit_test(test_net_echo),
        cmocka_unit_test(test_net_tls),
        cmocka_unit_test(test_net_wrong_token),
        cmocka_unit_test(test_net_bad_frames),
        cmocka_unit_test(test_net_idle_deadline),
        cmocka_unit_test(test_net_connect_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
