/* seed_world.c — confetti-seed-world: the rest of a bench-size platform beside the rooms that
 * confetti-seed-rooms made (issue 18 item 8): users (auth), apps with two manifest versions
 * (catalog), prizes, past draws and their winners (draw), in one database holding every
 * service's schema (as `make run`'s does), each as one INSERT … SELECT so millions of rows take
 * seconds to minutes, not an RPC each.
 *
 *   confetti-seed-world --dsn DSN [--users N] [--apps N] [--prizes K] [--winners W]
 *
 * Applies the auth, catalog and draw migrations first; refuses schemas that already hold rows.
 * The data, consistent with the seeded rooms:
 * - users: user-0 … user-(N-1) (default: as many as the seed's participants name, at least
 *   1,000), provider "seed", e-mail user-k@seed.invalid; and the hot room's hot-k members.
 * - apps: seed-app-0 … seed-app-(N-1) (default 10: the ids the seeded rooms use), owned by
 *   user-0, manifests 1.0.0 and 1.1.0 (current), secrets unusable (random hashes).
 * - prizes: K per live room (default 1), quantity W + 1.
 * - draws and winners: for each prize of an ACTIVE or COMPLETED room, one past draw of W
 *   winners (default 1) among the room's live PARTICIPANTs (lowest participant ids), with the
 *   room's draw counter and the prize's remaining quantity kept true. */
#include "db/migrate.h"
#include "base/clock.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

DB_MIGRATIONS_DECLARE(auth_migrations);
DB_MIGRATIONS_DECLARE(catalog_migrations);
DB_MIGRATIONS_DECLARE(draw_migrations);

static int64_t t0;

static int run(PGconn *pg, const char *what, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "seed-world: %s: %s", what, PQerrorMessage(pg));
    else
        fprintf(stderr, "seed-world: %s: %s rows at %.1f s\n", what, PQcmdTuples(r),
                (double)(cf_mono_ns() - t0) / 1e9);
    PQclear(r);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *dsn = getenv("CONFETTI_DB_DSN");
    long users = -1, apps = 10, prizes = 1, winners = 1;
    static const struct option opts[] = {
        {"dsn", required_argument, NULL, 'd'},     {"users", required_argument, NULL, 'u'},
        {"apps", required_argument, NULL, 'a'},    {"prizes", required_argument, NULL, 'p'},
        {"winners", required_argument, NULL, 'w'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'd':
            dsn = optarg;
            break;
        case 'u':
            users = atol(optarg);
            break;
        case 'a':
            apps = atol(optarg);
            break;
        case 'p':
            prizes = atol(optarg);
            break;
        case 'w':
            winners = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: confetti-seed-world --dsn DSN [--users N] [--apps N] "
                            "[--prizes K] [--winners W]\n");
            return 2;
        }
    }
    if (!dsn || apps < 1 || prizes < 0 || prizes > 100 || winners < 1 || winners > 1000) {
        fprintf(stderr, "seed-world: need --dsn (or CONFETTI_DB_DSN), apps >= 1, prizes 0-100, "
                        "winners 1-1000\n");
        return 2;
    }
    char err[512];
    struct {
        const char *schema;
        const db_migration *m;
        size_t n;
    } mig[] = {{"auth", auth_migrations, auth_migrations_count},
               {"catalog", catalog_migrations, catalog_migrations_count},
               {"draw", draw_migrations, draw_migrations_count}};
    for (size_t i = 0; i < 3; i++)
        if (db_migrate(dsn, mig[i].schema, mig[i].m, mig[i].n, err, sizeof err) != CF_OK) {
            fprintf(stderr, "seed-world: %s migrations: %s\n", mig[i].schema, err);
            return 1;
        }
    PGconn *pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "seed-world: %s", PQerrorMessage(pg));
        return 1;
    }
    t0 = cf_mono_ns();
    PGresult *r = PQexec(pg, "SELECT (SELECT count(*) FROM auth.users) + (SELECT count(*) FROM "
                             "catalog.apps) + (SELECT count(*) FROM draw.prizes), "
                             "(SELECT count(*) FROM rooms.rooms), "
                             "(SELECT coalesce(max(substr(user_id, 6)::bigint), -1) + 1 FROM "
                             "rooms.participants WHERE user_id ~ '^user-[0-9]+$')");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "seed-world: %s(seed the rooms first: confetti-seed-rooms)\n",
                PQerrorMessage(pg));
        return 1;
    }
    long existing = atol(PQgetvalue(r, 0, 0)), nrooms = atol(PQgetvalue(r, 0, 1)),
         named = atol(PQgetvalue(r, 0, 2));
    PQclear(r);
    if (existing != 0) {
        fprintf(stderr, "seed-world: auth, catalog or draw already holds rows: seed a fresh "
                        "database\n");
        return 1;
    }
    if (users < 0)
        users = named > 1000 ? named : 1000;
    char nu[32], na[32], np[32], nw[32];
    snprintf(nu, sizeof nu, "%ld", users);
    snprintf(na, sizeof na, "%ld", apps);
    snprintf(np, sizeof np, "%ld", prizes);
    snprintf(nw, sizeof nw, "%ld", winners);
    const char *pu[] = {nu}, *pa[] = {na}, *pp[] = {np, nw}, *pw[] = {nw};
    fprintf(stderr,
            "seed-world: %ld rooms seeded; %ld users, %ld apps, %ld prizes a room, %ld "
            "winners a prize\n",
            nrooms, users, apps, prizes, winners);
    if (run(pg, "settings", "SET synchronous_commit = off", 0, NULL) != 0 ||
        run(pg, "users",
            "INSERT INTO auth.users (id, email, name, provider, provider_id, created_at) "
            "SELECT 'user-' || g, 'user-' || g || '@seed.invalid', 'Seed User ' || g, 'seed', "
            "'user-' || g, now() - interval '1 year' FROM generate_series(0, $1::bigint - 1) g",
            1, pu) != 0 ||
        run(pg, "hot room users",
            "INSERT INTO auth.users (id, email, name, provider, provider_id) "
            "SELECT DISTINCT user_id, user_id || '@seed.invalid', user_id, 'seed', user_id "
            "FROM rooms.participants WHERE user_id LIKE 'hot-%' OR user_id = 'bench-user' "
            "ON CONFLICT DO NOTHING",
            0, NULL) != 0 ||
        run(pg, "apps",
            "INSERT INTO catalog.apps (id, app_id, app_secret_hash, owner_user_id, name, "
            "manifest, manifest_version, manifest_seq) "
            "SELECT 'seed-app-pk-' || g, 'seed-app-' || g, "
            "sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'user-0', "
            "'Seed app ' || g, jsonb_build_object('name', 'seed-app-' || g, 'version', '1.1.0', "
            "'settingsSchema', jsonb_build_object('type', 'object')), '1.1.0', 2 "
            "FROM generate_series(0, $1::bigint - 1) g",
            1, pa) != 0 ||
        run(pg, "manifests",
            "INSERT INTO catalog.manifests (app_pk, version, seq, manifest, published_by) "
            "SELECT a.id, v.version, v.seq, a.manifest || jsonb_build_object('version', "
            "v.version), 'user-0' FROM catalog.apps a, (VALUES ('1.0.0', 1), ('1.1.0', 2)) "
            "v(version, seq)",
            0, NULL) != 0 ||
        run(pg, "prizes",
            "INSERT INTO draw.prizes (id, room_id, name, description, quantity, "
            "quantity_remaining, created_at) "
            "SELECT 'z' || lpad(to_hex(row_number() OVER ()), 24, '0'), r.id, "
            "'Seed prize ' || g, 'generated', $2::int + 1, $2::int + 1, r.created_at "
            "FROM rooms.rooms r, generate_series(1, $1::int) g WHERE r.deleted_at IS NULL",
            2, pp) != 0 ||
        run(pg, "draws",
            "INSERT INTO draw.draws (id, room_id, prize_id, draw_number, algorithm, seed, "
            "eligible_digest, eligible_count, count, winner_participant_ids, drawn_by, "
            "created_at) "
            "SELECT 'd' || substr(z.id, 2), z.room_id, z.id, "
            "row_number() OVER (PARTITION BY z.room_id ORDER BY z.id), 'seed/1', "
            "encode(sha256(convert_to(z.id, 'UTF8')), 'hex'), "
            "encode(sha256(convert_to(z.room_id, 'UTF8')), 'hex'), w.n, w.n, w.ids, 'user-0', "
            "z.created_at + interval '1 day' "
            "FROM draw.prizes z JOIN rooms.rooms r ON r.id = z.room_id "
            "CROSS JOIN LATERAL (SELECT count(*) AS n, array_agg(p.id ORDER BY p.id) AS ids FROM "
            "(SELECT p.id FROM rooms.participants p WHERE p.room_id = z.room_id AND "
            "p.role = 'PARTICIPANT' AND p.deleted_at IS NULL ORDER BY p.id LIMIT $1::int) p) w "
            "WHERE r.status IN ('ACTIVE', 'COMPLETED') AND w.n > 0",
            1, pw) != 0 ||
        run(pg, "winners",
            "INSERT INTO draw.winners (id, room_id, prize_id, participant_id, user_id, draw_id, "
            "created_at) "
            "SELECT 'w' || substr(d.id, 2) || '-' || x.ord, d.room_id, d.prize_id, x.pid, "
            "p.user_id, d.id, d.created_at FROM draw.draws d "
            "CROSS JOIN LATERAL unnest(d.winner_participant_ids) WITH ORDINALITY x(pid, ord) "
            "JOIN rooms.participants p ON p.id = x.pid",
            0, NULL) != 0 ||
        run(pg, "remaining quantities",
            "UPDATE draw.prizes z SET quantity_remaining = z.quantity - d.count "
            "FROM draw.draws d WHERE d.prize_id = z.id",
            0, NULL) != 0 ||
        run(pg, "draw counters",
            "INSERT INTO draw.room_draw_counters (room_id, last_number) "
            "SELECT room_id, max(draw_number) FROM draw.draws GROUP BY room_id",
            0, NULL) != 0 ||
        run(pg, "analyze",
            "ANALYZE auth.users, catalog.apps, catalog.manifests, draw.prizes, "
            "draw.draws, draw.winners",
            0, NULL) != 0) {
        PQfinish(pg);
        return 1;
    }
    fprintf(stderr, "seed-world: done in %.1f s\n", (double)(cf_mono_ns() - t0) / 1e9);
    PQfinish(pg);
    return 0;
}
