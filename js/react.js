'use client';
// `cardtoken/react`: the React binding (React 18 and 19; React is the app's own, a peer dependency).
//
//   <Cardtoken publishableKey="pk_…" apiBase="https://api…">     loads the package once for its children
//     <CardFields onChange={(e) => setComplete(e.complete)} />    mounts the card fields' frame
//   </Cardtoken>
//   const { createToken, handleNextAction } = useCardtoken();      in any component inside
//
// On a server, <CardFields> renders its empty placeholder and nothing else runs: the package is loaded and
// the frame mounted by effects, in the browser only. Unmounting removes the frame and its listener; strict
// mode's mount, unmount, mount leaves one frame.
import React from 'react';
import { load, CardtokenError } from './index.js';

const { createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef, useState } = React;
const EVENTS = { ready: 'onReady', change: 'onChange', focus: 'onFocus', blur: 'onBlur', error: 'onError' };
const Context = createContext(null);

const notReady = (code, message) => new CardtokenError({ type: 'validation_error', code, message });

/** Loads the package for `publishableKey` (and `apiBase`, `locale`, `timeoutMs`) and provides it to its children. */
export function Cardtoken({ publishableKey, apiBase, locale, timeoutMs, children }) {
  const [loaded, setLoaded] = useState({ client: null, error: null });
  const fields = useRef(null); // the mounted CardFields, for useCardtoken().createToken()
  useEffect(() => {
    let live = true;
    load(publishableKey, { apiBase, locale, timeoutMs }).then(
      (client) => live && setLoaded({ client, error: null }),
      (error) => live && setLoaded({ client: null, error }),
    );
    return () => {
      live = false;
      setLoaded({ client: null, error: null });
    };
  }, [publishableKey, apiBase, locale, timeoutMs]);
  const value = useMemo(() => ({ ...loaded, fields }), [loaded]);
  return createElement(Context.Provider, { value }, children);
}

function useProvided(hook) {
  const value = useContext(Context);
  if (value === null) throw new Error(`cardtoken: ${hook} must be inside <Cardtoken>.`);
  return value;
}

/**
 * The card fields (in an iframe the page cannot read), mounted once the package has loaded. Props:
 * `onReady`, `onChange`, `onFocus`, `onBlur` (`{complete, empty, brand, error}`), `onError` (a
 * CardtokenError), `options` (`style`, `autoAdvance`, `title`, `locale`), `className`, `id`.
 */
export function CardFields(props) {
  const { client, error, fields } = useProvided('<CardFields>');
  const box = useRef(null);
  const handlers = useRef(props);
  handlers.current = props; // the latest handlers, without mounting again when they change
  const options = JSON.stringify(props.options ?? {});
  useEffect(() => {
    if (error) handlers.current.onError?.(error);
    if (!client || !box.current) return undefined;
    const mounted = client.mountCardFields(box.current, JSON.parse(options));
    for (const [type, prop] of Object.entries(EVENTS)) mounted.on(type, (detail) => handlers.current[prop]?.(detail));
    fields.current = mounted;
    return () => {
      mounted.destroy();
      if (fields.current === mounted) fields.current = null;
    };
  }, [client, error, fields, options]);
  return createElement('div', { ref: box, className: props.className, id: props.id, 'data-cardtoken-card-fields': '' });
}

/**
 * `createToken()` tokenizes the mounted <CardFields>; `handleNextAction(clientSecret)` runs a payment's
 * 3-D Secure challenge. `ready` is true once the package has loaded; `error` says why it could not.
 */
export function useCardtoken() {
  const { client, error, fields } = useProvided('useCardtoken()');
  const createToken = useCallback(async () => {
    if (error) throw error;
    if (!fields.current) throw notReady('no_card_fields', 'There are no card fields mounted yet.');
    return fields.current.createToken();
  }, [error, fields]);
  const handleNextAction = useCallback(async (clientSecret) => {
    if (error) throw error;
    if (!client) throw notReady('not_loaded', 'cardtoken has not loaded yet.');
    return client.handleNextAction(clientSecret);
  }, [client, error]);
  return { createToken, handleNextAction, ready: client !== null, error, client };
}
