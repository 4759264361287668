import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clientAddress, trustedProxies } from "../src/edge/client-address.js";

const proxies = trustedProxies(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);

describe("the caller's address behind proxies (GATEWAY_TRUSTED_PROXIES)", () => {
  it("is the socket's peer when no proxy is trusted, or the peer is not one: X-Forwarded-For is not believed", () => {
    expect(clientAddress("203.0.113.7", "198.51.100.1", undefined)).toBe("203.0.113.7");
    expect(clientAddress("203.0.113.7", "198.51.100.1", proxies)).toBe("203.0.113.7");
    expect(clientAddress("127.0.0.1", null, proxies)).toBe("127.0.0.1");
    expect(clientAddress(undefined, "198.51.100.1", proxies)).toBe("unknown");
  });

  it("is the entry the nearest trusted proxy appended, past every trusted hop, never one the client wrote left of it", () => {
    expect(clientAddress("127.0.0.1", "203.0.113.7", proxies)).toBe("203.0.113.7");
    expect(clientAddress("::ffff:127.0.0.1", "203.0.113.7", proxies)).toBe("203.0.113.7"); // an IPv4 peer on a dual-stack socket
    expect(clientAddress("127.0.0.1", "198.51.100.1, 203.0.113.7", proxies)).toBe("203.0.113.7"); // the first entry is the client's own
    expect(clientAddress("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.1.2.3", proxies)).toBe("203.0.113.7");
    expect(clientAddress("127.0.0.1", "10.9.9.9, 10.1.2.3", proxies)).toBe("10.9.9.9"); // only proxies: the farthest
    expect(clientAddress("127.0.0.1", "[2001:db8::1]:443", proxies)).toBe("2001:db8::1");
    expect(clientAddress("127.0.0.1", "203.0.113.7:5555", proxies)).toBe("203.0.113.7");
    expect(clientAddress("fd00::1", "2001:db8::2, fd12::3", proxies)).toBe("2001:db8::2");
  });

  it("stops at the last trusted hop when an entry is not an address", () => {
    expect(clientAddress("127.0.0.1", "203.0.113.7, not-an-address", proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", "203.0.113.7, 10.1.2.3, ", proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", "garbage, 10.1.2.3", proxies)).toBe("10.1.2.3");
  });

  it("whatever a client sends, the address is the one the proxy saw", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 8 }), fc.ipV4(), (sent, seen) => {
        fc.pre(!seen.startsWith("10.") && seen !== "127.0.0.1");
        expect(clientAddress("127.0.0.1", [...sent, seen].join(","), proxies)).toBe(seen);
      }),
    );
  });

  it("takes addresses and CIDR ranges, and refuses anything else, naming it", () => {
    expect(trustedProxies([])).toBeUndefined();
    const list = trustedProxies(["::1", "192.168.0.0/16"]);
    expect(list?.check("::1", "ipv6")).toBe(true);
    expect(list?.check("192.168.4.2", "ipv4")).toBe(true);
    expect(list?.check("192.169.0.1", "ipv4")).toBe(false);
    for (const bad of ["not-an-ip", "10.0.0.0/33", "::/129", "10.0.0.0/8/1", "10.0.0.0/x", "10.0.0.0/", "10.0.0/8"]) {
      expect(() => trustedProxies([bad])).toThrow(`"${bad}" is not an IP address or a CIDR range`);
    }
  });
});
