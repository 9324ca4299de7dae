/* seed_rooms.c — confetti-seed-rooms: fills the rooms schema with generated rooms and
 * participants through COPY, fast enough for millions of rows (1M rooms + 10M participants in
 * a few minutes on 2 cores), for benchmarks and for checking query plans on realistic data.
 *
 *   confetti-seed-rooms --dsn DSN [--rooms N] [--participants M] [--hot H] [--member USER]
 *
 * Applies rooms' migrations first (like --migrate-only), refuses a schema that already has
 * rooms, drops the schema's secondary indexes, COPYs, recreates the same indexes from their
 * saved definitions (one sort each instead of 10M index insertions), then VACUUM ANALYZEs.
 * The triggers that keep private_members (schema/004) are off during the load; the table is
 * filled from the loaded rows in one INSERT … SELECT before they are turned on again.
 *
 * The shape of the data:
 * - rooms: 50 % ACTIVE, 20 % DRAFT, 20 % COMPLETED, 10 % CANCELLED; 80 % public; 10 % use one of
 *   ten apps; created over the past year, one every few seconds, in id order.
 * - room 0 is the hot room (`seed-hot-room`, public, ACTIVE) with H members: hot-0 is its
 *   ORGANIZER, the others PARTICIPANTs (every 50th a VIEWER).
 * - the other M - H participants spread evenly: member k of room r is user "user-<k>"; the first
 *   of each room is its ORGANIZER; 5 % MODERATOR, 10 % VIEWER, the rest PARTICIPANT.
 * - USER (default bench-user) belongs to 50 rooms spread over the list, half of them private.
 * - names and descriptions come from small word lists (room_text below), so ListRooms?q= has
 *   words of every selectivity: a room's number ("#4711") is in one name, an adjective + noun
 *   pair ("golden lantern") in ~1/4096 of the names, an adjective in 1/64, a kind ("raffle")
 *   in 1/16, a place ("harbor") in ~1/8 of the descriptions (docs/rooms.md, "Search").
 * Room ids are CUID-shaped ("c" + 24 base-36 digits), deterministic, so runs are repeatable. */
#include "rooms.h"
#include "base/clock.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

DB_MIGRATIONS_DECLARE(rooms_migrations);

static void room_id(long r, char out[26])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    out[0] = 'c';
    unsigned long v = (unsigned long)r;
    for (int i = 24; i >= 1; i--) {
        out[i] = digits[v % 36];
        v /= 36;
    }
    out[25] = '\0';
}

static int run(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "seed: %s\n  in: %.200s\n", PQerrorMessage(pg), sql);
    PQclear(r);
    return ok ? 0 : -1;
}

/* Buffered COPY: rows are appended to buf and sent in ~1 MiB pieces. */
typedef struct copier {
    PGconn *pg;
    char buf[1 << 20];
    size_t n;
} copier;

static int flush(copier *c)
{
    if (c->n && PQputCopyData(c->pg, c->buf, (int)c->n) != 1) {
        fprintf(stderr, "seed: COPY: %s\n", PQerrorMessage(c->pg));
        return -1;
    }
    c->n = 0;
    return 0;
}

static int put(copier *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(copier *c, const char *fmt, ...)
{
    if (sizeof c->buf - c->n < 1024 && flush(c) != 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->buf + c->n, sizeof c->buf - c->n, fmt, ap);
    va_end(ap);
    c->n += (size_t)n;
    return 0;
}

static int copy_begin(copier *c, const char *sql)
{
    PGresult *r = PQexec(c->pg, sql);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok)
        fprintf(stderr, "seed: %s", PQerrorMessage(c->pg));
    PQclear(r);
    c->n = 0;
    return ok ? 0 : -1;
}

static int copy_end(copier *c)
{
    if (flush(c) != 0 || PQputCopyEnd(c->pg, NULL) != 1)
        return -1;
    PGresult *r = PQgetResult(c->pg);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "seed: COPY failed: %s", PQerrorMessage(c->pg));
    PQclear(r);
    while ((r = PQgetResult(c->pg)))
        PQclear(r);
    return ok ? 0 : -1;
}

/* The searchable text of room r (the hot room keeps its well-known name). The word lists
 * are indexed by a mix of r, so words do not line up with status or visibility (r % 10). */
static const char *const adjectives[64] = {
    "golden",   "silver", "crimson",  "azure",    "emerald",   "amber",  "velvet",  "crystal",
    "midnight", "sunny",  "frosty",   "misty",    "stormy",    "quiet",  "lively",  "grand",
    "tiny",     "mighty", "brave",    "clever",   "gentle",    "wild",   "ancient", "modern",
    "cosmic",   "lunar",  "solar",    "electric", "magnetic",  "rustic", "urban",   "coastal",
    "alpine",   "desert", "tropical", "arctic",   "hidden",    "secret", "lucky",   "happy",
    "jolly",    "merry",  "bright",   "shadow",   "royal",     "noble",  "humble",  "swift",
    "lazy",     "bold",   "shiny",    "dusty",    "sparkling", "spicy",  "sweet",   "sour",
    "green",    "purple", "orange",   "scarlet",  "ivory",     "copper", "iron",    "paper"};
static const char *const nouns[64] = {
    "lantern", "harp",    "falcon",     "river",      "mountain", "garden",   "castle",
    "bridge",  "comet",   "meadow",     "harvest",    "festival", "carnival", "market",
    "library", "theater", "orchard",    "lighthouse", "canyon",   "island",   "forest",
    "valley",  "village", "station",    "rocket",     "dragon",   "phoenix",  "tiger",
    "panda",   "otter",   "badger",     "heron",      "violin",   "drum",     "guitar",
    "piano",   "trumpet", "compass",    "anchor",     "sail",     "kettle",   "teapot",
    "cookie",  "pretzel", "waffle",     "pancake",    "muffin",   "bagel",    "robot",
    "pixel",   "circuit", "rocketship", "galaxy",     "nebula",   "planet",   "asteroid",
    "ribbon",  "button",  "marble",     "puzzle",     "kite",     "balloon",  "confetti",
    "sparkler"};
static const char *const kinds[16] = {
    "giveaway", "raffle", "draw",  "contest",    "quiz",    "lottery", "sweepstakes", "challenge",
    "jam",      "meetup", "party", "tournament", "auction", "fair",    "gala",        "hackathon"};
static const char *const places[16] = {
    "harbor",  "downtown", "campus",   "plaza",   "riverside", "uptown",  "seaside", "hilltop",
    "oldtown", "parkside", "lakeside", "midtown", "docklands", "airport", "stadium", "suburbs"};

static void room_text(long r, char *name, size_t nn, char *desc, size_t dn)
{
    uint64_t x = (uint64_t)r * 0x9E3779B97F4A7C15ULL; /* a bijective mix of r (Fibonacci) */
    x ^= x >> 29;
    unsigned a = (unsigned)(x & 63), n = (unsigned)(x >> 6 & 63), k = (unsigned)(x >> 12 & 15),
             p = (unsigned)(x >> 16 & 15), q = (unsigned)(x >> 20 & 15),
             m = (unsigned)(x >> 24 & 63);
    if (r == 0)
        snprintf(name, nn, "seed-hot-room");
    else
        snprintf(name, nn, "%s %s %s #%ld", adjectives[a], nouns[n], kinds[k], r);
    /* two places of 16 and another noun as the prize */
    snprintf(desc, dn, "Join the %s %s in the %s %s quarter: %s prizes for everyone", kinds[k],
             nouns[n], places[p], places[q], nouns[m]);
}

static const char *status_of(long r)
{
    if (r == 0)
        return "ACTIVE";
    switch (r % 10) {
    case 0:
    case 1:
        return "DRAFT";
    case 2:
    case 3:
        return "COMPLETED";
    case 4:
        return "CANCELLED";
    default:
        return "ACTIVE";
    }
}

static int public_of(long r)
{
    return r == 0 || r % 5 != 1;
}

/* The member's room for the 50 memberships of --member. */
static long member_room(long i, long nrooms)
{
    return 1 + i * ((nrooms - 1) / 50);
}

int main(int argc, char **argv)
{
    const char *dsn = getenv("CONFETTI_DB_DSN"), *member = "bench-user";
    long nrooms = 100000, nparts = 1000000, hot = 10000;
    static const struct option opts[] = {
        {"dsn", required_argument, NULL, 'd'},          {"rooms", required_argument, NULL, 'r'},
        {"participants", required_argument, NULL, 'p'}, {"hot", required_argument, NULL, 'h'},
        {"member", required_argument, NULL, 'm'},       {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            dsn = optarg;
            break;
        case 'r':
            nrooms = atol(optarg);
            break;
        case 'p':
            nparts = atol(optarg);
            break;
        case 'h':
            hot = atol(optarg);
            break;
        case 'm':
            member = optarg;
            break;
        default:
            fprintf(stderr, "usage: confetti-seed-rooms --dsn DSN [--rooms N] [--participants M]"
                            " [--hot H] [--member USER]\n");
            return 2;
        }
    }
    if (!dsn || nrooms < 100 || hot < 1 || nparts < hot + nrooms || hot > nparts) {
        fprintf(stderr, "seed: need --dsn (or CONFETTI_DB_DSN), rooms >= 100, "
                        "participants >= rooms + hot\n");
        return 2;
    }
    char err[512];
    if (db_migrate(dsn, "rooms", rooms_migrations, rooms_migrations_count, err, sizeof err) !=
        CF_OK) {
        fprintf(stderr, "seed: migrations: %s\n", err);
        return 1;
    }
    PGconn *pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "seed: %s", PQerrorMessage(pg));
        return 1;
    }
    int64_t t0 = cf_mono_ns();
    PGresult *r = PQexec(pg, "SELECT count(*) FROM rooms.rooms");
    long existing = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    if (existing != 0) {
        fprintf(stderr, "seed: rooms.rooms is not empty (%ld rows): seed a fresh database\n",
                existing);
        PQfinish(pg);
        return 1;
    }
    /* the secondary indexes, to rebuild after the load */
    r = PQexec(
        pg,
        "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = 'rooms' AND "
        "tablename IN ('rooms', 'participants', 'private_members') AND NOT EXISTS (SELECT 1 FROM "
        "pg_constraint c WHERE c.conname = i.indexname)");
    int nidx = PQntuples(r);
    char **defs = calloc((size_t)nidx + 1, sizeof *defs);
    for (int i = 0; i < nidx; i++) {
        defs[i] = strdup(PQgetvalue(r, i, 1));
        char drop[256];
        snprintf(drop, sizeof drop, "DROP INDEX rooms.%s", PQgetvalue(r, i, 0));
        if (run(pg, drop) != 0)
            return 1;
    }
    PQclear(r);
    /* private_members (004) is kept by row triggers: off for the load, filled in one
     * statement afterwards (10M trigger calls would take longer than the whole seed) */
    if (run(pg, "ALTER TABLE rooms.participants DISABLE TRIGGER participants_private_members") !=
            0 ||
        run(pg, "ALTER TABLE rooms.rooms DISABLE TRIGGER rooms_private_members") != 0)
        return 1;
    /* the service's own search_path: trigger functions of the schema may rely on it */
    run(pg, "SET search_path = rooms, public");
    run(pg, "SET maintenance_work_mem = '256MB'");
    run(pg, "SET synchronous_commit = off");

    copier *c = calloc(1, sizeof *c);
    c->pg = pg;
    int64_t now_us = cf_wall_ms() * 1000, year_us = 365LL * 24 * 3600 * 1000000;
    int64_t step_us = year_us / nrooms;
    char id[26];
    if (copy_begin(c, "COPY rooms.rooms (id, name, description, status, is_public, app_id, "
                      "app_manifest_version, app_settings, created_by, created_at, updated_at) "
                      "FROM STDIN") != 0)
        return 1;
    for (long i = 0; i < nrooms; i++) {
        room_id(i, id);
        int64_t ts = now_us - year_us + i * step_us;
        char when[64];
        time_t secs = (time_t)(ts / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t w = strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(when + w, sizeof when - w, ".%06" PRId64 "+00", ts % 1000000);
        const char *owner = i == 0 ? "hot-0" : NULL;
        char owner_buf[32];
        if (!owner) {
            snprintf(owner_buf, sizeof owner_buf, "user-0");
            owner = owner_buf;
        }
        char name[160], desc[256];
        room_text(i, name, sizeof name, desc, sizeof desc);
        if (i % 10 == 7)
            put(c, "%s\t%s\t%s\t%s\t%s\tseed-app-%ld\t1.0.0\t{}\t%s\t%s\t%s\n", id, name, desc,
                status_of(i), public_of(i) ? "t" : "f", i % 100 / 10, owner, when, when);
        else
            put(c, "%s\t%s\t%s\t%s\t%s\t\\N\t\\N\t\\N\t%s\t%s\t%s\n", id, name, desc, status_of(i),
                public_of(i) ? "t" : "f", owner, when, when);
    }
    if (copy_end(c) != 0)
        return 1;
    fprintf(stderr, "seed: %ld rooms in %.1f s\n", nrooms, (cf_mono_ns() - t0) / 1e9);

    if (copy_begin(c, "COPY rooms.participants (id, room_id, user_id, role) FROM STDIN") != 0)
        return 1;
    long pid = 0;
    /* the hot room */
    for (long k = 0; k < hot; k++, pid++)
        put(c, "p%024ld\t%s\thot-%ld\t%s\n", pid, (room_id(0, id), id), k,
            k == 0        ? "ORGANIZER"
            : k % 50 == 0 ? "VIEWER"
                          : "PARTICIPANT");
    /* the rest, round-robin over rooms 1..N-1: member k of room r is user-k */
    long rest = nparts - hot, spread = nrooms - 1;
    for (long j = 0; j < rest; j++, pid++) {
        long r = 1 + j % spread, k = j / spread;
        room_id(r, id);
        const char *role = k == 0        ? "ORGANIZER"
                           : j % 20 == 3 ? "MODERATOR"
                           : j % 10 == 5 ? "VIEWER"
                                         : "PARTICIPANT";
        put(c, "p%024ld\t%s\tuser-%ld\t%s\n", pid, id, k, role);
    }
    for (long i = 0; i < 50; i++, pid++) {
        room_id(member_room(i, nrooms), id);
        put(c, "p%024ld\t%s\t%s\tPARTICIPANT\n", pid, id, member);
    }
    if (copy_end(c) != 0)
        return 1;
    fprintf(stderr, "seed: %ld participants at %.1f s\n", pid, (cf_mono_ns() - t0) / 1e9);
    /* --member's 50 rooms: make half of them private (they are public or private by r % 5) */
    char sql[512];
    for (long i = 0; i < 50; i += 2) {
        room_id(member_room(i, nrooms), id);
        snprintf(sql, sizeof sql, "UPDATE rooms.rooms SET is_public = false WHERE id = '%s'", id);
        run(pg, sql);
    }
    if (run(pg, "INSERT INTO rooms.private_members (user_id, room_id, status, app_id, "
                "created_at) SELECT p.user_id, r.id, r.status, r.app_id, r.created_at FROM "
                "rooms.participants p JOIN rooms.rooms r ON r.id = p.room_id WHERE p.deleted_at "
                "IS NULL AND NOT r.is_public AND r.deleted_at IS NULL ORDER BY 1, 2") != 0 ||
        run(pg, "ALTER TABLE rooms.participants ENABLE TRIGGER participants_private_members") !=
            0 ||
        run(pg, "ALTER TABLE rooms.rooms ENABLE TRIGGER rooms_private_members") != 0)
        return 1;
    fprintf(stderr, "seed: private_members at %.1f s\n", (cf_mono_ns() - t0) / 1e9);
    for (int i = 0; i < nidx; i++) {
        if (run(pg, defs[i]) != 0)
            return 1;
        free(defs[i]);
    }
    free(defs);
    fprintf(stderr, "seed: indexes at %.1f s\n", (cf_mono_ns() - t0) / 1e9);
    /* VACUUM too: index-only scans need the visibility map a fresh bulk load lacks */
    run(pg, "VACUUM (ANALYZE) rooms.rooms");
    run(pg, "VACUUM (ANALYZE) rooms.participants");
    run(pg, "VACUUM (ANALYZE) rooms.private_members");
    fprintf(stderr, "seed: done in %.1f s\n", (cf_mono_ns() - t0) / 1e9);
    free(c);
    PQfinish(pg);
    return 0;
}
