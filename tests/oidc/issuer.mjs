// oauth2-mock-server (npm, version 8) as the OpenID Connect issuer of msmvp's tests.
// Its client_credentials tokens carry neither `aud` nor `sub`: the beforeTokenSigning hook sets
// them from the request (client_id is the subject, scope the Keycloak-style realm roles).
// Usage: node issuer.mjs PORT AUDIENCE; prints "ready <issuer url>" once it serves.
import { createRequire } from 'node:module';
import { execSync } from 'node:child_process';

const require = createRequire(import.meta.url);
const root = process.env.NODE_PATH || execSync('npm root -g').toString().trim();
const { OAuth2Server } = require(`${root}/oauth2-mock-server`);

const [port, audience] = process.argv.slice(2);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
server.service.on('beforeTokenSigning', (token, req) => {
  const body = req.body || {};
  token.payload.aud = audience;
  token.payload.sub = body.client_id || 'client';
  token.payload.realm_access = { roles: (body.scope || '').split(' ').filter(Boolean) };
  if (body.expires_in) token.payload.exp = token.payload.iat + Number(body.expires_in);
});
await server.start(Number(port), '127.0.0.1');
console.log(`ready ${server.issuer.url}`);
