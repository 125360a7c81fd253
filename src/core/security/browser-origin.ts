// Which strings can name a browser origin in a tenant's CORS list. A browser sends `Origin` as the
// ASCII serialization of its page's origin (RFC 6454 §6.2; WHATWG URL, "serialization of an
// origin"): `scheme://host` plus `:port` only when the port is not the scheme's default, with a
// lowercase host in ASCII (punycode) and a bracketed, compressed IPv6 address. The list is matched
// by exact string, so any other spelling of the same origin could never match: it is refused with
// the spelling a browser sends. Pure: the WHATWG URL parser (workerd's, a browser's) is the rule,
// narrowed to hosts a page can be served from: the parser also takes hosts DNS cannot name (`*`,
// empty or overlong labels, `!` and the like), which no browser ever sends.

/**
 * Why `hostname` (as the URL parser gives it: lowercase, punycode) can be no page's host, or
 * undefined. A DNS name is labels of letters, digits and `-` (`_` too: browsers resolve it), each
 * 1 to 63 characters (RFC 1035 §2.3.4); an IPv4 address comes out of the parser in that form, an
 * IPv6 one bracketed. A trailing dot is left to the caller: it names a real, if rare, origin.
 */
function hostMistake(hostname: string): string | undefined {
  if (hostname.startsWith("[")) return undefined;
  if (hostname.includes("*"))
    return "is a pattern, and browsers send no wildcards: list each origin, such as https://app.example.com";
  const labels = (hostname.endsWith(".") ? hostname.slice(0, -1) : hostname).split(".");
  if (labels.includes("")) return "has an empty label (a dot first, or two together): a host has no empty label";
  if (labels.some((label) => !/^[a-z0-9_-]+$/.test(label)))
    return "has a character no host name has: a host's labels are letters, digits, - and _";
  if (labels.some((label) => label.length > 63)) return "has a host label over 63 characters, which DNS cannot carry";
  return undefined;
}

/**
 * Undefined when `text` is exactly the `Origin` a browser on an http or https page sends, else why
 * it is not, naming what to write instead where there is such an origin (`write https://x.com,
 * the default port 443 is implied`). Port 0 is refused: no page is served from it, nor a host DNS
 * cannot name (a wildcard, an empty label). A host ending in a dot is refused too, naming the
 * origin without it: a browser sends it only from a page opened at that spelling, so listed it is
 * almost always a typo that would leave the meant origin unlisted.
 */
export function originMistake(text: string): string | undefined {
  const shown = JSON.stringify(text.slice(0, 64));
  if (text === "null")
    return "null is the Origin of sandboxed and local-file pages, which any site can make: list the page's own origin";
  // The port as written, when the text ends in one (the host may be a bracketed IPv6 address).
  const port = /^[a-z]+:\/\/(?:\[[^\]]*\]|[^:/?#]*):(\d+)$/i.exec(text)?.[1];
  if (port !== undefined && Number(port) > 65535) return `${shown} names port ${port}: a port is at most 65535`;
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined)
    return `${shown} is not an origin: write scheme://host, adding :port only for a port that is not the default, such as https://app.example.com`;
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return `${shown} is not an http or https origin: only pages served over HTTP can call the API`;
  if (url.port === "0") return `${shown} names port 0, from which no page is served`;
  const host = hostMistake(url.hostname);
  if (host !== undefined) return `${shown} ${host}`;
  if (url.hostname.endsWith(".")) {
    url.hostname = url.hostname.slice(0, -1);
    return `write ${url.origin}: a host ending in a dot is another origin, sent only by pages opened at that spelling`;
  }
  const origin = url.origin;
  if (text === origin) return undefined;
  if (url.username !== "" || url.password !== "") return `write ${origin}: an origin has no user name or password`;
  if (url.href !== `${origin}/` || /[/?#]$/.test(text))
    return `write ${origin}: an origin has no path, query or fragment, not even a trailing /`;
  if (port !== undefined && url.port === "")
    return `write ${origin}: the default port ${Number(port)} of ${url.protocol.slice(0, -1)} is implied`;
  if (text.toLowerCase() === origin) return `write ${origin}: scheme and host are lowercase in an origin`;
  return `write ${origin}: that is how a browser sends this origin`;
}
