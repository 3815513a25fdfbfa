// TLS for the stream listener (syslog over TLS, RFC 5425): the PEM files named in the options, loaded and
// checked when the listener is made, so a bad path or a key that does not fit fails at startup with a
// message naming it, not at the first connection.
import Foundation
import NIOSSL

/// TLS settings of a `StreamListener`.
public struct StreamTLSOptions: Sendable, Equatable {
    /// PEM file with the server certificate first, then any intermediates.
    public var certificateChainPath: String
    /// PEM file with the private key of the first certificate (unencrypted).
    public var privateKeyPath: String
    /// PEM file of CA certificates that client certificates are checked against. With it and
    /// `requireClientCertificate` false, a client certificate is optional but checked when sent.
    public var caPath: String?
    /// Refuse clients without a certificate signed by a CA in `caPath` (mutual TLS; needs `caPath`).
    public var requireClientCertificate = false
    /// A connection whose handshake has not completed after this long is closed (and counted as a
    /// handshake failure), so silent clients cannot hold TLS connections open without `idleTimeout`.
    public var handshakeTimeout: Duration = .seconds(10)

    public init(certificateChainPath: String, privateKeyPath: String, caPath: String? = nil, requireClientCertificate: Bool = false) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.caPath = caPath
        self.requireClientCertificate = requireClientCertificate
    }

    /// The server context: TLS 1.2 or later (RFC 9662 makes 1.2 the floor for syslog over TLS).
    func makeContext() throws(StreamListenerError) -> NIOSSLContext {
        func fail(_ what: String) -> StreamListenerError { StreamListenerError(description: "TLS: \(what)") }
        func readable(_ path: String, _ role: String) throws(StreamListenerError) {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
                throw fail("\(role) \"\(path)\" does not exist")
            }
            guard attributes[.type] as? FileAttributeType != .typeDirectory, FileManager.default.isReadableFile(atPath: path) else {
                throw fail("\(role) \"\(path)\" is not a readable file")
            }
        }
        func certificates(_ path: String, _ role: String) throws(StreamListenerError) -> [NIOSSLCertificate] {
            try readable(path, role)
            let certs: [NIOSSLCertificate]
            do { certs = try NIOSSLCertificate.fromPEMFile(path) } catch {
                throw fail("\(role) \"\(path)\" is not PEM certificates (\(error))")
            }
            guard !certs.isEmpty else { throw fail("\(role) \"\(path)\" holds no PEM certificate") }
            return certs
        }

        let chain = try certificates(certificateChainPath, "certificate chain")
        try readable(privateKeyPath, "private key")
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem) } catch {
            throw fail("private key \"\(privateKeyPath)\" is not an unencrypted PEM private key (\(error))")
        }
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)
        )
        config.minimumTLSVersion = .tlsv12
        if let caPath {
            config.trustRoots = .certificates(try certificates(caPath, "CA file"))
            config.certificateVerification = requireClientCertificate ? .noHostnameVerification : .optionalVerification
        } else if requireClientCertificate {
            throw fail("requiring a client certificate needs a CA file to check it against")
        }
        do { return try NIOSSLContext(configuration: config) } catch {
            throw fail("certificate \"\(certificateChainPath)\" and private key \"\(privateKeyPath)\" were refused (do they belong together?): \(error)")
        }
    }
}
