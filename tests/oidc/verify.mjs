// verify.mjs — checks a Confetti access token with an independent JWT library (jose) against a
// JWKS document: node verify.mjs JWKS_FILE TOKEN ISSUER AUDIENCE. Exit 0 and the claims on
// stdout if it verifies; 1 otherwise.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksFile, token, issuer, audience] = process.argv.slice(2);
try {
  const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience,
                                                                      algorithms: ['RS256', 'ES256'] });
  console.log(JSON.stringify({ header: protectedHeader, payload }));
} catch (e) {
  console.error(`does not verify: ${e.code || e.message}`);
  process.exit(1);
}
