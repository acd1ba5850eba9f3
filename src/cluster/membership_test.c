/* Tests of cluster membership: a head and nodes on real loopback sockets
 * (ephemeral port), one loop on this thread run in bounded steps. Nodes
 * join, heartbeat, hang up, go silent and rejoin; clients with the wrong
 * token or malformed bodies are refused while the others stay ALIVE.
 * Every test ends with a loop that closes cleanly and nothing leaked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "base/alloc.h"
#include "cluster/membership.h"
#include "net/conn.h"
#include "wire/buf.h"
#include "wire/frame.h"

#include "testutil.h"
#include "uvtest.h"

typedef struct ctx {
    uv_loop_t loop;
    wf_head *head;
    int port;
    wf_token good, bad;
    uint64_t bytes_before;
} ctx;

static void setup(ctx *x, uint64_t heartbeat_ms, uint64_t dead_after_ms)
{
    memset(x, 0, sizeof *x);
    x->bytes_before = wf_alloc_bytes();
    assert_int_equal(uv_loop_init(&x->loop), 0);
    make_token(&x->good, 'g');
    make_token(&x->bad, 'b');
    wf_head_opts o = {.heartbeat_ms = heartbeat_ms,
                      .dead_after_ms = dead_after_ms};
    OK(wf_head_start(&x->loop, "127.0.0.1", 0, &x->good, &o, &x->head));
    x->port = wf_head_port(x->head);
    assert_true(x->port > 0);
}

static void teardown(ctx *x)
{
    wf_head_stop(x->head);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&x->loop), 0);
    assert_int_equal(wf_alloc_bytes(), x->bytes_before);
}

/* Resources that differ per node i. */
static void make_res(wf_node_resources *r, int i)
{
    memset(r, 0, sizeof *r);
    r->cpus_milli = 1000u * (uint64_t)(i + 1);
    r->memory_bytes = (uint64_t)(i + 1) << 30;
    r->ncustom = (uint32_t)i;
    for (int k = 0; k < i; k++) {
        snprintf(r->custom[k].name, sizeof r->custom[k].name, "res%d", k);
        r->custom[k].milli = 500u * (uint64_t)(k + 1);
    }
}

static wf_node *join(ctx *x, const char *name, int i, const wf_token *t)
{
    wf_node_resources r;
    make_res(&r, i);
    wf_node *n = NULL;
    OK(wf_node_join(&x->loop, "127.0.0.1", x->port, t, name, &r, NULL, &n));
    return n;
}

static wf_node *join_ok(ctx *x, const char *name, int i)
{
    wf_node *n = join(x, name, i, &x->good);
    RUN_UNTIL(x, wf_node_get_state(n) != WF_NODE_CONNECTING);
    assert_int_equal(wf_node_get_state(n), WF_NODE_JOINED);
    assert_true(wf_node_id(n) >= 1);
    return n;
}

/* The head's record of name, copied into *m; false if it has none. */
static bool member(ctx *x, const char *name, wf_member *m)
{
    static wf_member all[16];
    size_t n = wf_head_nodes(x->head, all, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (strcmp(all[i].name, name) == 0) {
            *m = all[i];
            return true;
        }
    return false;
}

static bool is_state(ctx *x, const char *name, wf_member_state s)
{
    wf_member m;
    return member(x, name, &m) && m.state == s;
}

static void stop_node(ctx *x, wf_node *n)
{
    wf_node_stop(n);
    uv_run(&x->loop, UV_RUN_NOWAIT);
}

/* ------------------------------------------------------------ tests */

static void test_three_join(void **state)
{
    ctx x;
    setup(&x, 50, 3000);
    const char *names[3] = {"alpha", "beta", "gamma"};
    wf_node *n[3];
    for (int i = 0; i < 3; i++)
        n[i] = join(&x, names[i], i, &x.good);
    for (int i = 0; i < 3; i++)
        RUN_UNTIL(&x, wf_node_get_state(n[i]) == WF_NODE_JOINED);
    wf_member all[8];
    assert_int_equal(wf_head_nodes(x.head, all, 8), 3);
    assert_int_equal(wf_head_nodes(x.head, NULL, 0), 3);
    for (int i = 0; i < 3; i++) {
        wf_member m;
        assert_true(member(&x, names[i], &m));
        assert_int_equal(m.state, WF_MEMBER_ALIVE);
        assert_int_equal(m.id, wf_node_id(n[i]));
        wf_node_resources want;
        make_res(&want, i);
        assert_int_equal(m.res.cpus_milli, want.cpus_milli);
        assert_int_equal(m.res.memory_bytes, want.memory_bytes);
        assert_int_equal(m.res.ncustom, want.ncustom);
        for (uint32_t k = 0; k < want.ncustom; k++) {
            assert_string_equal(m.res.custom[k].name, want.custom[k].name);
            assert_int_equal(m.res.custom[k].milli, want.custom[k].milli);
        }
        assert_true(m.last_heard_ms < 20000);
    }
    assert_true(all[0].id != all[1].id && all[1].id != all[2].id &&
                all[0].id != all[2].id);
    /* Heartbeats carry the load. */
    wf_node_set_load(n[1], 7, 2);
    wf_member m;
    RUN_UNTIL(&x, member(&x, "beta", &m) && m.load == 7 && m.drivers == 2);
    for (int i = 0; i < 3; i++)
        stop_node(&x, n[i]);
    teardown(&x);
}

static void test_close_is_dead(void **state)
{
    ctx x;
    setup(&x, 500, 60000); /* the timeout cannot be what kills it */
    wf_node *a = join_ok(&x, "a", 1);
    wf_node *b = join_ok(&x, "b", 2);
    stop_node(&x, a);
    RUN_UNTIL(&x, is_state(&x, "a", WF_MEMBER_DEAD));
    assert_true(is_state(&x, "b", WF_MEMBER_ALIVE));
    stop_node(&x, b);
    RUN_UNTIL(&x, is_state(&x, "b", WF_MEMBER_DEAD));
    teardown(&x);
}

static void test_silent_dead_and_rejoin(void **state)
{
    ctx x;
    setup(&x, 50, 300);
    wf_node *a = join_ok(&x, "a", 0);
    wf_node *b = join_ok(&x, "b", 3);
    uint64_t id_a = wf_node_id(a);
    wf_node_set_heartbeats(a, false);
    RUN_UNTIL(&x, is_state(&x, "a", WF_MEMBER_DEAD));
    /* The head hangs up on the silent node; b kept beating. */
    RUN_UNTIL(&x, wf_node_get_state(a) == WF_NODE_CLOSED);
    assert_true(is_state(&x, "b", WF_MEMBER_ALIVE));
    stop_node(&x, a);

    /* Rejoining under the same name: ALIVE again, same id, new resources. */
    wf_node *a2 = join_ok(&x, "a", 2);
    assert_int_equal(wf_node_id(a2), id_a);
    wf_member m;
    assert_true(member(&x, "a", &m));
    assert_int_equal(m.state, WF_MEMBER_ALIVE);
    assert_int_equal(m.res.ncustom, 2);
    assert_int_equal(wf_head_nodes(x.head, NULL, 0), 2);
    /* Stays ALIVE well past dead_after while beating. */
    uint64_t t0 = uv_hrtime();
    while (uv_hrtime() - t0 < 600000000ull) {
        uv_run(&x.loop, UV_RUN_NOWAIT);
        sleep_ms(1);
    }
    assert_true(is_state(&x, "a", WF_MEMBER_ALIVE));
    assert_true(is_state(&x, "b", WF_MEMBER_ALIVE));
    stop_node(&x, a2);
    stop_node(&x, b);
    teardown(&x);
}

static void test_wrong_token(void **state)
{
    ctx x;
    setup(&x, 50, 3000);
    wf_node *good = join_ok(&x, "good", 0);
    wf_node *bad = join(&x, "bad", 0, &x.bad);
    RUN_UNTIL(&x, wf_node_get_state(bad) == WF_NODE_CLOSED);
    assert_int_not_equal(wf_node_close_reason(bad), 0);
    assert_int_equal(wf_node_id(bad), 0);
    wf_member m;
    assert_false(member(&x, "bad", &m));
    assert_int_equal(wf_head_nodes(x.head, NULL, 0), 1);
    stop_node(&x, bad);
    stop_node(&x, good);
    teardown(&x);
}

static void test_bad_args(void **state)
{
    ctx x;
    setup(&x, 50, 3000);
    wf_node_resources r;
    make_res(&r, 2);
    wf_node *n = NULL;
    assert_int_equal(wf_node_join(&x.loop, "127.0.0.1", x.port, &x.good,
                                  "has space", &r, NULL, &n),
                     WEFT_EINVAL);
    assert_int_equal(
        wf_node_join(&x.loop, "127.0.0.1", x.port, &x.good, "", &r, NULL, &n),
        WEFT_EINVAL);
    strcpy(r.custom[1].name, r.custom[0].name);
    assert_int_equal(
        wf_node_join(&x.loop, "127.0.0.1", x.port, &x.good, "n", &r, NULL, &n),
        WEFT_EINVAL);
    wf_head *h = NULL;
    wf_head_opts o = {.heartbeat_ms = 500, .dead_after_ms = 500};
    assert_int_equal(wf_head_start(&x.loop, "127.0.0.1", 0, &x.good, &o, &h),
                     WEFT_EINVAL);
    teardown(&x);
}

/* ------------------------------------------------------ raw clients */

typedef struct rawc {
    wf_net_conn *c;
    bool ready, closed;
    uint64_t id;
} rawc;

static void raw_ready(wf_net_conn *c, void *arg)
{
    ((rawc *)arg)->ready = true;
}

static void raw_frame(wf_net_conn *c, const wf_frame *f, void *arg)
{
    rawc *k = arg;
    if (f->type == WF_MSG_JOINED && f->body_len >= 8)
        k->id = wf_load_le64(f->body);
}

static void raw_close(wf_net_conn *c, weft_err why, void *arg)
{
    rawc *k = arg;
    k->closed = true;
    k->c = NULL;
}

static void raw_connect(ctx *x, rawc *k)
{
    memset(k, 0, sizeof *k);
    wf_net_opts o = {.on_frame = raw_frame,
                     .on_ready = raw_ready,
                     .on_close = raw_close,
                     .arg = k};
    OK(wf_net_connect(&x->loop, "127.0.0.1", x->port, &x->good, &o, &k->c));
    RUN_UNTIL(x, k->ready || k->closed);
    assert_true(k->ready);
}

/* Send one frame of type with w's bytes on a fresh raw client and expect
 * the head to hang up. */
static void expect_refused(ctx *x, wf_msg_type type, wf_wbuf *w)
{
    rawc k;
    raw_connect(x, &k);
    OK(wf_wbuf_status(w));
    OK(wf_net_send(k.c, type, 0, w->data, w->len));
    RUN_UNTIL(x, k.closed);
    assert_int_equal(k.id, 0);
    wf_wbuf_free(w);
}

/* A NODE_JOIN body: name, cpus, memory, then count custom resources
 * named r0, r1, ... (count written as declared); without the task address
 * that ends a whole one (put_addr). */
static void put_join(wf_wbuf *w, const char *name, size_t name_len,
                     uint32_t declared, uint32_t count)
{
    wf_wbuf_init(w);
    wf_wbuf_put_str(w, name, name_len);
    wf_wbuf_put_u64(w, 4000);
    wf_wbuf_put_u64(w, 1u << 30);
    wf_wbuf_put_u32(w, declared);
    for (uint32_t i = 0; i < count; i++) {
        char rn[16];
        int len = snprintf(rn, sizeof rn, "r%u", i);
        wf_wbuf_put_str(w, rn, (size_t)len);
        wf_wbuf_put_u64(w, 1000);
    }
}

static void put_addr(wf_wbuf *w, const char *addr)
{
    wf_wbuf_put_str(w, addr, strlen(addr));
}

static void test_malformed(void **state)
{
    ctx x;
    setup(&x, 50, 3000);
    wf_node *good = join_ok(&x, "good", 2);
    wf_wbuf w;

    wf_wbuf_init(&w); /* empty body */
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "x", 1, 0, 0); /* truncated: drop the count's last byte */
    w.len -= 1;
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "x", 1, 0, 0); /* a trailing byte */
    wf_wbuf_put_u8(&w, 0);
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "", 0, 0, 0); /* empty name */
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "a b", 3, 0, 0); /* a space */
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    char longname[WF_NODE_NAME_MAX + 1];
    memset(longname, 'n', sizeof longname);
    put_join(&w, longname, sizeof longname, 0, 0); /* name too long */
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "x", 1, WF_NODE_MAX_CUSTOM + 1, WF_NODE_MAX_CUSTOM + 1);
    expect_refused(&x, WF_MSG_NODE_JOIN, &w); /* too many resources */
    put_join(&w, "x", 1, 0xffffffffu, 1);     /* a huge count */
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "x", 1, 3, 2); /* fewer resources than declared */
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "x", 1, 2, 1); /* a duplicate resource name */
    wf_wbuf_put_str(&w, "r0", 2);
    wf_wbuf_put_u64(&w, 1);
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "x", 1, 0, 0); /* no task address */
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "x", 1, 0, 0); /* a task address with a space */
    put_addr(&w, "1.2.3.4: 5");
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    put_join(&w, "x", 1, 0, 0); /* a task address too long */
    char longaddr[WF_NODE_ADDR_MAX + 2];
    memset(longaddr, '1', sizeof longaddr - 1);
    longaddr[sizeof longaddr - 1] = '\0';
    put_addr(&w, longaddr);
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    wf_wbuf_init(&w); /* a heartbeat before joining */
    wf_wbuf_put_u32(&w, 0);
    expect_refused(&x, WF_MSG_HEARTBEAT, &w);
    put_join(&w, "good", 4, 0, 0); /* the name of a node that is alive */
    expect_refused(&x, WF_MSG_NODE_JOIN, &w);
    assert_int_equal(wf_head_nodes(x.head, NULL, 0), 1);

    /* Joined properly, then a bad heartbeat: refused and DEAD. */
    rawc k;
    raw_connect(&x, &k);
    put_join(&w, "raw", 3, 1, 1);
    put_addr(&w, "127.0.0.1:9");
    OK(wf_net_send(k.c, WF_MSG_NODE_JOIN, 0, w.data, w.len));
    wf_wbuf_free(&w);
    RUN_UNTIL(&x, k.id != 0 || k.closed);
    assert_true(is_state(&x, "raw", WF_MEMBER_ALIVE));
    OK(wf_net_send(k.c, WF_MSG_HEARTBEAT, 0, "abc", 3));
    RUN_UNTIL(&x, k.closed);
    RUN_UNTIL(&x, is_state(&x, "raw", WF_MEMBER_DEAD));
    /* A second NODE_JOIN on a joined connection is refused too. */
    raw_connect(&x, &k);
    put_join(&w, "raw", 3, 0, 0);
    put_addr(&w, "");
    OK(wf_net_send(k.c, WF_MSG_NODE_JOIN, 0, w.data, w.len));
    OK(wf_net_send(k.c, WF_MSG_NODE_JOIN, 0, w.data, w.len));
    wf_wbuf_free(&w);
    RUN_UNTIL(&x, k.closed);
    RUN_UNTIL(&x, is_state(&x, "raw", WF_MEMBER_DEAD));

    /* Through all of that the good node stayed. */
    assert_true(is_state(&x, "good", WF_MEMBER_ALIVE));
    assert_int_equal(wf_node_get_state(good), WF_NODE_JOINED);
    stop_node(&x, good);
    teardown(&x);
}

/* The head stops under live nodes and a half-open connection: the nodes
 * see their connection end, and everything is freed. */
static void test_head_stops_first(void **state)
{
    ctx x;
    setup(&x, 50, 3000);
    wf_node *a = join_ok(&x, "a", 1);
    wf_node *b = join_ok(&x, "b", 0);
    wf_node *pending = join(&x, "pending", 0, &x.good); /* not yet run */
    wf_head_stop(x.head);
    RUN_UNTIL(&x, wf_node_get_state(a) == WF_NODE_CLOSED &&
                      wf_node_get_state(b) == WF_NODE_CLOSED &&
                      wf_node_get_state(pending) == WF_NODE_CLOSED);
    wf_node_stop(a);
    wf_node_stop(b);
    wf_node_stop(pending);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&x.loop), 0);
    assert_int_equal(wf_alloc_bytes(), x.bytes_before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_join),
        cmocka_unit_test(test_close_is_dead),
        cmocka_unit_test(test_silent_dead_and_rejoin),
        cmocka_unit_test(test_wrong_token),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_head_stops_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
