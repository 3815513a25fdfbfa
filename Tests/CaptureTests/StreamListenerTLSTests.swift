// The listener with TLS (RFC 5425) on loopback, with a self-signed P-256 certificate made by openssl for
// the test: frames from openssl s_client, a plain TCP client on the TLS port counted as a handshake
// failure, client certificates required, and TLS settings that must be refused with a message.
import Foundation
import Testing

@testable import Capture

@Suite("Stream listener TLS", .serialized)
struct StreamListenerTLSTests {
    /// A scratch directory with cert.pem/key.pem (self-signed, CN=localhost) and other-key.pem.
    final class Files {
        let dir: String
        var cert: String { dir + "/cert.pem" }
        var key: String { dir + "/key.pem" }
        var otherKey: String { dir + "/other-key.pem" }

        init() throws {
            dir = NSTemporaryDirectory() + "sotp-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let r = try StreamTestSupport.run([
                "/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "1", "-subj", "/CN=localhost",
            ])
            guard r.status == 0 else { throw StreamListenerError(description: "openssl req: \(r.err)") }
            let k = try StreamTestSupport.run([
                "/usr/bin/openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", dir + "/other-key.pem",
            ])
            guard k.status == 0 else { throw StreamListenerError(description: "openssl genpkey: \(k.err)") }
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Sends `input` through `openssl s_client` (which closes with close_notify at the end of its input).
    @discardableResult
    static func sClient(port: UInt16, _ input: String, extra: [String] = []) throws -> Int32 {
        try StreamTestSupport.run(
            ["/usr/bin/openssl", "s_client", "-quiet", "-no_ign_eof", "-connect", "127.0.0.1:\(port)"] + extra, stdin: input
        ).status
    }

    static func octetCounted(_ messages: [String]) -> String { messages.map { "\($0.utf8.count) \($0)" }.joined() }

    @Test func framesArriveOverTLS() throws {
        let files = try Files()
        let sink = FrameSink()
        var o = StreamListenerOptions(port: 0)
        o.tls = StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: files.key)
        let l = try StreamListener(options: o, handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        let messages = ["<13>1 - host app - - - over TLS", "<14>1 - host app - - - second one", "<15>1 - host app - - - " + String(repeating: "t", count: 3000)]
        try Self.sClient(port: port, Self.octetCounted(messages))
        #expect(sink.wait(for: 3))
        #expect(sink.all.map(\.text) == messages)
        #expect(sink.all.allSatisfy { $0.info == StreamFrameInfo(framing: .octetCounted, truncated: false, transport: .tls) && $0.from.isV4 })
        let s = l.stats.snapshot()
        #expect(s.tlsHandshakeFailures == 0 && s.octetCountedFrames == 3 && s.bytes == Self.octetCounted(messages).utf8.count)
    }

    @Test func aPlainClientOnTheTLSPortIsAHandshakeFailure() throws {
        let files = try Files()
        let sink = FrameSink()
        var o = StreamListenerOptions(port: 0)
        o.tls = StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: files.key)
        let l = try StreamListener(options: o, handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        let plain = try TestClient(port: port)
        plain.send("<13>this is not TLS\n")
        #expect(plain.closedByServer(within: 3))
        #expect(StreamTestSupport.wait(2) { l.stats.snapshot().tlsHandshakeFailures == 1 })
        // One that connects and says nothing before going away counts too.
        let silent = try TestClient(port: port)
        silent.finish()
        #expect(StreamTestSupport.wait(2) { l.stats.snapshot().tlsHandshakeFailures == 2 })
        #expect(sink.count == 0)
        // The listener is unharmed.
        try Self.sClient(port: port, "<13>after the noise\n")
        #expect(sink.wait(for: 1))
        #expect(sink.all.map(\.text) == ["<13>after the noise"])
        #expect(StreamTestSupport.wait(2) { l.stats.snapshot().open == 0 })
        #expect(l.stats.snapshot().tlsHandshakeFailures == 2)
    }

    @Test func aSilentClientIsClosedAtTheHandshakeTimeout() throws {
        let files = try Files()
        var o = StreamListenerOptions(port: 0)
        o.tls = StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: files.key)
        o.tls?.handshakeTimeout = .milliseconds(200)
        let l = try StreamListener(options: o) { _, _, _, _, _ in }
        let port = try l.start()
        defer { l.stop() }
        let silent = try TestClient(port: port)
        #expect(silent.closedByServer(within: 3))
        #expect(StreamTestSupport.wait(2) { l.stats.snapshot().tlsHandshakeFailures == 1 && l.stats.snapshot().open == 0 })
        // A completed handshake is not timed out, even when the client then waits.
        let sink = FrameSink()
        let m = try StreamListener(options: o, handler: sink.handler)
        let mport = try m.start()
        defer { m.stop() }
        // s_client's input stays open for a second after the frame (five handshake timeouts).
        try StreamTestSupport.run(["/bin/sh", "-c", "(printf '<13>slow\\n'; sleep 1) | /usr/bin/openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:\(mport)"])
        #expect(sink.all.map(\.text) == ["<13>slow"])
        #expect(m.stats.snapshot().tlsHandshakeFailures == 0)
    }

    @Test func clientCertificatesCanBeRequired() throws {
        let files = try Files()
        let sink = FrameSink()
        var o = StreamListenerOptions(port: 0)
        // The self-signed certificate is its own CA.
        o.tls = StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: files.key, caPath: files.cert, requireClientCertificate: true)
        let l = try StreamListener(options: o, handler: sink.handler)
        let port = try l.start()
        defer { l.stop() }
        try Self.sClient(port: port, "<13>without a certificate\n")
        #expect(StreamTestSupport.wait(3) { l.stats.snapshot().tlsHandshakeFailures == 1 })
        try Self.sClient(port: port, "<13>with a certificate\n", extra: ["-cert", files.cert, "-key", files.key])
        #expect(sink.wait(for: 1))
        #expect(sink.all.map(\.text) == ["<13>with a certificate"])
        #expect(l.stats.snapshot().tlsHandshakeFailures == 1)
    }

    @Test func badTLSSettingsAreRefusedWithTheirName() throws {
        let files = try Files()
        func message(_ tls: StreamTLSOptions) -> String {
            var o = StreamListenerOptions(port: 0)
            o.tls = tls
            do {
                _ = try StreamListener(options: o) { _, _, _, _, _ in }
                return ""
            } catch { return error.description }
        }
        let missing = files.dir + "/missing.pem"
        #expect(message(StreamTLSOptions(certificateChainPath: missing, privateKeyPath: files.key)).contains("certificate chain \"\(missing)\" does not exist"))
        #expect(message(StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: missing)).contains("private key \"\(missing)\" does not exist"))
        #expect(message(StreamTLSOptions(certificateChainPath: files.dir, privateKeyPath: files.key)).contains("not a readable file"))
        #expect(message(StreamTLSOptions(certificateChainPath: files.key, privateKeyPath: files.key)).contains("certificate chain \"\(files.key)\""))
        #expect(message(StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: files.cert)).contains("private key \"\(files.cert)\""))
        #expect(message(StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: files.otherKey)).contains("belong together"))
        #expect(message(StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: files.key, requireClientCertificate: true)).contains("CA file"))
        #expect(message(StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: files.key, caPath: missing)).contains("CA file \"\(missing)\""))
        #expect(message(StreamTLSOptions(certificateChainPath: files.cert, privateKeyPath: files.key, caPath: files.cert)) == "")
    }
}
