// node-oidc-provider configured as Mandat's benchmark peer (see ../README.md).
//
// One process, in-memory adapter, devInteractions for login and consent.
// Usage: node server.js [port]   (or PORT=... node server.js); ISSUER overrides the issuer URL.
// Prints "READY <issuer>" on stdout once listening, so a harness can wait for it.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const issuer = process.env.ISSUER ?? `http://127.0.0.1:${port}`;

// The one resource server whose JWT access tokens we issue; RFC 8707 resource indicator.
const RESOURCE = `${issuer}/api`;

// The only account; devInteractions takes `login` as the account id and does not check the password.
const ACCOUNTS = new Set(['alice']);

function ecSigningKey(kid) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
}

const configuration = {
  clients: [{
    client_id: 'bench-client',
    client_secret: 'bench-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:9999/cb'],
    scope: 'openid profile offline_access api',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [ecSigningKey('bench-es256')] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
  scopes: ['openid', 'offline_access', 'api'],
  pkce: { required: () => true },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  async findAccount(_ctx, sub) {
    if (!ACCOUNTS.has(sub)) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, name: 'Alice Bench', preferred_username: sub };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // client_credentials gets an ES256 JWT for the API, like Mandat's. The code flow asks for no resource, so
      // its access token is the provider's own opaque one: the only kind its userinfo and introspection accept
      // (they refuse tokens for a resource server, and cannot introspect JWTs).
      defaultResource: (ctx) => (ctx.oidc.params?.grant_type === 'client_credentials' ? RESOURCE : undefined),
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: 'api',
          audience: RESOURCE,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  ttl: { AccessToken: 300, ClientCredentials: 300, IdToken: 300 },
  // Refresh with rotation, as Mandat does: every use returns a new refresh token and consumes the old one.
  rotateRefreshToken: true,
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
