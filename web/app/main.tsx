import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { currentSession, signOut, type Session } from './api.ts';
import { navigate, onLinkClick, parseRoute, useLocation } from './router.ts';
import { AdminScreen } from './screens/admin.tsx';
import { BrowseScreen } from './screens/browse.tsx';
import { DuplicatesScreen } from './screens/duplicates.tsx';
import { ImageScreen } from './screens/image.tsx';
import { KeysScreen } from './screens/keys.tsx';
import { SearchScreen } from './screens/search.tsx';
import { SignInScreen } from './screens/signIn.tsx';
import { UploadScreen } from './screens/upload.tsx';
import './styles.css';

const screens = [
  { path: '/search', label: 'Search', route: 'search' },
  { path: '/browse', label: 'Browse', route: 'browse' },
  { path: '/upload', label: 'Upload', route: 'upload' },
  { path: '/duplicates', label: 'Duplicates', route: 'duplicates' },
  { path: '/keys', label: 'API keys & usage', route: 'keys' },
  { path: '/admin', label: 'Admin', route: 'admin' },
] as const;

function App() {
  const location = useLocation();
  const route = parseRoute(location.pathname);
  const [session, setSession] = useState<Session | undefined | 'loading'>('loading');
  const [loadError, setLoadError] = useState<string>();

  const refresh = useCallback(() => {
    currentSession()
      .then((s) => setSession(s))
      .catch(() => setLoadError('The server did not answer. Is DeepLens running?'));
  }, []);
  useEffect(refresh, [refresh]);

  /** An API answered 401: the session ended (signed out elsewhere, or the server restarted). */
  const signedOut = useCallback(() => {
    setSession(undefined);
    navigate('/signin', { replace: true });
  }, []);

  useEffect(() => {
    if (session === 'loading') return;
    if (!session && route.name !== 'signin') navigate('/signin', { replace: true });
    if (session && route.name === 'signin') navigate('/search', { replace: true });
  }, [session, route.name]);

  useEffect(() => {
    const titles: Record<string, string> = {
      signin: 'Sign in',
      search: 'Search',
      browse: 'Browse',
      upload: 'Upload',
      image: 'Image',
      keys: 'API keys & usage',
      duplicates: 'Near-duplicates',
      admin: 'Administration',
      notFound: 'Not found',
    };
    document.title = `${titles[route.name] ?? ''} · DeepLens`;
  }, [route.name]);

  if (loadError) return <p class="banner error">{loadError}</p>;
  if (session === 'loading') return <p class="loading">Loading…</p>;

  if (!session || route.name === 'signin')
    return (
      <main id="main" class="signin-page">
        <SignInScreen
          onSignedIn={(s) => {
            setSession(s);
            navigate('/search', { replace: true });
          }}
        />
      </main>
    );

  return (
    <div class="shell" onClick={onLinkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/search">
          DeepLens
        </a>
        <nav aria-label="Main">
          <ul>
            {screens
              .filter((s) => s.route !== 'admin' || session.role.endsWith('_admin'))
              .map((s) => (
                <li key={s.path}>
                  <a href={s.path} aria-current={route.name === s.route ? 'page' : undefined}>
                    {s.label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <div class="who">
          <span class="muted" title={session.subject}>
            {session.email ?? 'API key'} · {session.role.replace('_', ' ')}
          </span>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              void signOut().then(() => {
                setSession(undefined);
                navigate('/signin', { replace: true });
              });
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {route.name === 'search' && <SearchScreen onUnauthorized={signedOut} />}
        {route.name === 'browse' && (
          <BrowseScreen onUnauthorized={signedOut} tag={location.search.get('tag') ?? ''} />
        )}
        {route.name === 'upload' && <UploadScreen onUnauthorized={signedOut} />}
        {route.name === 'image' && <ImageScreen key={route.id} id={route.id} onUnauthorized={signedOut} />}
        {route.name === 'admin' && <AdminScreen session={session} onUnauthorized={signedOut} />}
        {route.name === 'duplicates' && <DuplicatesScreen onUnauthorized={signedOut} />}
        {route.name === 'keys' && <KeysScreen session={session} onUnauthorized={signedOut} />}
        {route.name === 'notFound' && (
          <section>
            <h1>Not found</h1>
            <p>
              There is no page here. <a href="/search">Search</a> or <a href="/browse">browse</a> instead.
            </p>
          </section>
        )}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
