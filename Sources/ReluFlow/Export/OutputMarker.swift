import Foundation

/// The marker of a folder written by ReluFlow (`reluflow-output.json`): the output's kind, the
/// format version and the exact inventory of the files the toolkit wrote into it, each with its
/// size and modification time (nanoseconds; a rename keeps it, any edit changes it). It is what
/// makes a folder provably a ReluFlow output: only such a folder, holding nothing but its
/// inventory unchanged, is ever replaced (`RunFolder.checkReplaceable`).
public struct OutputMarker: Codable, Equatable, Sendable {
    public static let fileName = "reluflow-output.json"
    public static let currentFormatVersion = 1

    /// Always "reluflow-output".
    public var format: String
    public var formatVersion: Int
    /// "run" (simulate), "analysis" or "figures" (analyze/plot with --out).
    public var kind: String
    /// The toolkit version that wrote the folder.
    public var version: String
    /// One file of the inventory: size, modification time and a hash of the contents. A file is
    /// unchanged when its size and contents' hash are the recorded ones, whatever its time: an
    /// edit may keep the time (`touch -r`, or within the file system's clock tick) and a copy
    /// (git, scp) may change it. The time is recorded for the reader.
    public struct Stamp: Codable, Equatable, Sendable {
        public var size: Int
        /// Modification time, nanoseconds since 1970.
        public var modified: Int64
        /// `contentHash` of the bytes, as 16 hex digits.
        public var hash: String
    }

    /// Every file written, name → stamp (the marker itself excluded).
    public var files: [String: Stamp]
    /// Sub-folders that are ReluFlow outputs of their own (the runs of a `compare` folder), each
    /// with its own marker; absent when there are none.
    public var folders: [String]?

    public init(kind: String, files: [String: Stamp], folders: [String]? = nil) {
        format = "reluflow-output"
        formatVersion = Self.currentFormatVersion
        self.kind = kind
        version = ReluFlowVersion.string
        self.files = files
        self.folders = folders
    }

    /// The stamp of the regular file at `path` (nil: missing, not a regular file, or unreadable);
    /// the contents are hashed only when `hashing`.
    /// A `known` hash (`Written`: the bytes this process wrote there) is taken instead of reading
    /// the file back when the file still has the size written.
    static func stamp(_ path: String, hashing: Bool = true, known: Written? = nil) -> Stamp? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        var hash = ""
        if let known, known.size == Int(info.st_size), hashing {
            hash = String(known.hash, radix: 16)
        } else if hashing {
            guard let h = contentHash(path) else { return nil }
            hash = String(h, radix: 16)
        }
        return Stamp(size: Int(info.st_size), modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec), hash: hash)
    }

    /// A 64-bit hash of a file's bytes (`ContentHasher`): to notice an edit, not an adversary.
    /// Reads 64 KB at a time into one buffer.
    static func contentHash(_ path: String) -> UInt64? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var hasher = ContentHasher()
        // In malloc's heap (a buffer sized to a 300 KB file came from fresh pages each time).
        let capacity = 1 << 16
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, capacity)
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            hasher.add(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hasher.value
    }

    /// The inventory of a staging folder: the files of the names ReluFlow writes
    /// (`RunFolder.isOwnFileName`) and the sub-folders that are ReluFlow outputs themselves;
    /// anything else (a file a user put there during the run) is not ours and not listed.
    /// `written`: the size and `contentHash` of files this process wrote into the folder and
    /// hashed as it wrote them (`RunStream`), taken instead of reading them back (issue 22).
    static func inventory(of folder: String, kind: String, written: [String: Written] = [:]) throws -> OutputMarker {
        var files: [String: Stamp] = [:], folders: [String] = []
        // readdir directly: FileManager.contentsOfDirectory cost ~0.28 M instructions at its first
        // use in a process (issue 22).
        guard let entries = RunFolder.entries(of: folder) else {
            throw FileError(path: folder, action: "read", reason: String(cString: strerror(errno)))
        }
        for entry in entries where entry != fileName {
            let path = (folder as NSString).appendingPathComponent(entry)
            if RunFolder.isOwnFileName(entry), let stamp = stamp(path, known: written[entry]) {
                files[entry] = stamp
            } else {
                var info = stat()
                if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR,
                   FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(fileName)) {
                    folders.append(entry)
                }
            }
        }
        return OutputMarker(kind: kind, files: files, folders: folders.isEmpty ? nil : folders.sorted())
    }

    /// Reads the marker of `folder`; a missing, unreadable or foreign marker is an `InputError`
    /// naming `field`.
    public static func read(folder: String, field: String) throws -> OutputMarker {
        let path = (folder as NSString).appendingPathComponent(fileName)
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FileError(path: path, action: "read", error: error)
        }
        guard let marker = try? JSONDecoder().decode(OutputMarker.self, from: bytes), marker.format == "reluflow-output" else {
            throw InputError(field, "\(path) is not a ReluFlow output marker; refusing to treat \(folder) as a ReluFlow output")
        }
        guard marker.formatVersion <= currentFormatVersion else {
            throw InputError(field, "\(path) has format version \(marker.formatVersion), newer than this ReluFlow's \(currentFormatVersion)")
        }
        return marker
    }

    func encoded() throws -> Data {
        // JSONEncoder's bytes with [.prettyPrinted, .sortedKeys]: the node tree PrettyJSONEncoder
        // builds from the synthesized Codable conformance (a dictionary with String keys is an
        // object, a nil `folders` is left out), built here without the Codable containers, which
        // cost ~0.27 M instructions of every run's commit (issue 22), and written by the same
        // writer. PrettyJSONEncoderTests compares the two.
        let entries = JSONObjectBox()
        for (name, stamp) in files {
            let fields = JSONObjectBox()
            fields.keys = ["size", "modified", "hash"]
            fields.values = [JSONTreeEncoder.integer(stamp.size), JSONTreeEncoder.integer(stamp.modified), .string(stamp.hash)]
            entries.keys.append(name)
            entries.values.append(.object(fields))
        }
        let root = JSONObjectBox()
        root.keys = ["format", "formatVersion", "kind", "version", "files"]
        root.values = [.string(format), JSONTreeEncoder.integer(formatVersion), .string(kind), .string(version), .object(entries)]
        if let folders {
            let list = JSONArrayBox()
            list.items = folders.map { .string($0) }
            root.keys.append("folders")
            root.values.append(.array(list))
        }
        var writer = JSONTextWriter()
        writer.bytes.reserveCapacity(4096)
        writer.write(.object(root))
        return Data(writer.bytes)
    }

    func write(into folder: String) throws {
        try RunFolder.writeFile((folder as NSString).appendingPathComponent(Self.fileName), try encoded())
    }

    /// Whether `file` is in the inventory and is still a regular file with its recorded size and
    /// contents (`Stamp`: the time decides nothing).
    func holdsUnchanged(_ file: String, in folder: String) -> Bool {
        guard let recorded = files[file] else { return false }
        let path = (folder as NSString).appendingPathComponent(file)
        guard let now = Self.stamp(path, hashing: false), now.size == recorded.size else { return false }
        return Self.contentHash(path).map { String($0, radix: 16) } == recorded.hash
    }

    /// The entries of `folder` that make it more than this output: names not in the inventory and
    /// files changed since (each with a word why). Files of the inventory that are gone are fine.
    func differences(folder: String, entries: [String]) -> [String] {
        var problems: [String] = []
        for entry in entries.sorted() where entry != Self.fileName && !Self.isOwnTemporary(entry) {
            if folders?.contains(entry) ?? false {
                // A run of its own: replaceable only if it is, itself.
                let sub = (folder as NSString).appendingPathComponent(entry)
                var info = stat()
                guard lstat(sub, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { problems.append("\(entry) (no longer a folder)"); continue }
                // Its own differences, named inside it (entry/notes.txt).
                guard let inner = try? Self.read(folder: sub, field: "--out"),
                      let contents = try? FileManager.default.contentsOfDirectory(atPath: sub) else {
                    problems.append("\(entry)/ (not a ReluFlow output any more)")
                    continue
                }
                problems += inner.differences(folder: sub, entries: contents).map { "\(entry)/\($0)" }
            } else if files[entry] == nil {
                problems.append(entry)
            } else if !holdsUnchanged(entry, in: folder) {
                problems.append("\(entry) (changed since ReluFlow wrote it)")
            }
        }
        return problems
    }

    /// A temporary file of `RunFolder.replaceFile` (`.NAME.partial-PID`, NAME a file ReluFlow
    /// writes) left by a process that no longer runs.
    static func isOwnTemporary(_ entry: String) -> Bool {
        guard entry.hasPrefix("."), let range = entry.range(of: ".partial-", options: .backwards),
              let pid = Int32(entry[range.upperBound...]), pid != getpid() else { return false }
        let name = String(entry[entry.index(after: entry.startIndex)..<range.lowerBound])
        guard RunFolder.isOwnFileName(name) || name == fileName else { return false }
        return !RunFolder.isRunning(pid)
    }
}

extension OutputMarker {
    /// The size and `contentHash` of bytes written to a file (`ContentHasher`).
    struct Written: Sendable {
        var size: Int
        var hash: UInt64

        init(size: Int, hash: UInt64) {
            self.size = size
            self.hash = hash
        }

        /// Of the whole contents `bytes`.
        init(_ bytes: Data) {
            var hasher = ContentHasher()
            bytes.withUnsafeBytes { hasher.add($0) }
            self.init(size: bytes.count, hash: hasher.value)
        }
    }
}

/// `OutputMarker.contentHash` of bytes given in parts of any sizes (a file as it is written, or as
/// it is read back): eight bytes at a time as a little-endian word, multiply–xor–rotate, then the
/// last `length % 8` bytes one at a time and the length folded in. A part that ends inside a word
/// keeps its bytes until the next part completes it, so the words are those of the whole file.
struct ContentHasher {
    private var h: UInt64 = 0x9E37_79B9_7F4A_7C15
    private(set) var length: UInt64 = 0
    /// Bytes after the last whole word (little-endian: byte i in bits 8i...), `pendingCount` of them.
    private var pending: UInt64 = 0
    private var pendingCount = 0

    @inline(__always) private mutating func word(_ w: UInt64) {
        h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
        h = (h << 31) | (h >> 33)
    }

    mutating func add(_ raw: UnsafeRawBufferPointer) {
        guard var p = raw.baseAddress, raw.count > 0 else { return }
        var n = raw.count
        length &+= UInt64(n)
        if pendingCount > 0 {
            while pendingCount < 8 && n > 0 {
                pending |= UInt64(p.load(as: UInt8.self)) << (8 * UInt64(pendingCount))
                pendingCount += 1
                p += 1
                n -= 1
            }
            guard pendingCount == 8 else { return }
            word(pending)
            pending = 0
            pendingCount = 0
        }
        let words = n / 8
        for k in 0..<words { word(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self))) }
        for q in (8 * words)..<n {
            pending |= UInt64(p.load(fromByteOffset: q, as: UInt8.self)) << (8 * UInt64(pendingCount))
            pendingCount += 1
        }
    }

    /// The hash of everything added.
    var value: UInt64 {
        var h = self.h
        for q in 0..<pendingCount { h = (h ^ ((pending >> (8 * UInt64(q))) & 0xFF)) &* 0x94D0_49BB_1331_11EB }
        h ^= length
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 31)
    }
}
