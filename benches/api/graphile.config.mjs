// PostGraphile 5 config for the offerbridge side-by-side API benchmark.
// Env: DATABASE_URL (required), PORT (required), PG_POOL_MAX (default 16,
// the same as offerbridge's PostgreSQL pool: domain/src/db.rs).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

const connectionString = process.env.DATABASE_URL;
if (!connectionString) throw new Error("DATABASE_URL is not set");
const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) throw new Error("PORT is not set to a port number");
const poolMax = Number(process.env.PG_POOL_MAX ?? 16);

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public"],
      poolConfig: { max: poolMax },
      // No subscriptions in the benchmark: no LISTEN client.
      pubsub: false,
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port,
    graphqlPath: "/graphql",
    graphiql: false,
    graphqlOverGET: false,
    watch: false,
    websockets: false,
  },
  grafast: {
    explain: false,
  },
  // No gather/introspection cache is configured: the schema is built from a
  // live introspection of DATABASE_URL at every start, and the schema is not
  // exported to disk.
};

export default preset;
