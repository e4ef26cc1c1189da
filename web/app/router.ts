import { useEffect, useState } from 'preact/hooks';

/** The app's routes: history-API paths the server answers with the app itself. */
export type Route =
  | { name: 'signin' }
  | { name: 'search' }
  | { name: 'browse' }
  | { name: 'upload' }
  | { name: 'image'; id: string }
  | { name: 'keys' }
  | { name: 'duplicates' }
  | { name: 'admin' }
  | { name: 'notFound' };

export function parseRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '/search') return { name: 'search' };
  if (pathname === '/signin') return { name: 'signin' };
  if (pathname === '/browse') return { name: 'browse' };
  if (pathname === '/upload') return { name: 'upload' };
  if (pathname === '/keys') return { name: 'keys' };
  if (pathname === '/duplicates') return { name: 'duplicates' };
  if (pathname === '/admin') return { name: 'admin' };
  const image = /^\/images\/([A-Za-z0-9_-]{1,100})$/.exec(pathname);
  if (image) return { name: 'image', id: image[1]! };
  return { name: 'notFound' };
}

const listeners = new Set<() => void>();

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const listener of listeners) listener();
  window.scrollTo(0, 0);
}

export function useLocation(): { pathname: string; search: URLSearchParams } {
  const [location, setLocation] = useState(() => ({
    pathname: window.location.pathname,
    search: new URLSearchParams(window.location.search),
  }));
  useEffect(() => {
    const update = () =>
      setLocation({
        pathname: window.location.pathname,
        search: new URLSearchParams(window.location.search),
      });
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return location;
}

/** A link that changes the route without reloading the page (a modified click still opens a tab). */
export function onLinkClick(event: MouseEvent): void {
  const anchor = (event.target as Element | null)?.closest('a');
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const href = anchor.getAttribute('href');
  if (!href?.startsWith('/') || href.startsWith('/api/') || anchor.target) return;
  event.preventDefault();
  navigate(href);
}
