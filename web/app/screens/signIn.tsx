import { useState } from 'preact/hooks';
import { signIn, type Session } from '../api.ts';

/** Sign in with an e-mail and password, or with an API key pasted in. */
export function SignInScreen({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [mode, setMode] = useState<'password' | 'apiKey'>('password');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [apiKey, setApiKey] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(mode === 'password' ? { email, password } : { apiKey: apiKey.trim() }));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in to DeepLens</h1>
      <div class="tabs" role="group" aria-label="How to sign in">
        <button
          type="button"
          aria-pressed={mode === 'password'}
          onClick={() => setMode('password')}
          class={mode === 'password' ? 'tab active' : 'tab'}
        >
          E-mail and password
        </button>
        <button
          type="button"
          aria-pressed={mode === 'apiKey'}
          onClick={() => setMode('apiKey')}
          class={mode === 'apiKey' ? 'tab active' : 'tab'}
        >
          API key
        </button>
      </div>
      <form onSubmit={(e) => void submit(e)}>
        {mode === 'password' ? (
          <>
            <label for="email">E-mail</label>
            <input
              id="email"
              type="email"
              autoComplete="username"
              required
              value={email}
              onInput={(e) => setEmail(e.currentTarget.value)}
            />
            <label for="password">Password</label>
            <input
              id="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </>
        ) : (
          <>
            <label for="apikey">API key</label>
            <input
              id="apikey"
              type="password"
              autoComplete="off"
              required
              value={apiKey}
              onInput={(e) => setApiKey(e.currentTarget.value)}
            />
            <p class="hint">The key stays on the server for this session; the page never holds it.</p>
          </>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </section>
  );
}
