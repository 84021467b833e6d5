import Foundation

/// The last periodic checkpoint of a run still being written (`RunStream.checkpointInterval`),
/// kept in its hidden staging folder as `resume.json`: how long each record file was at the
/// checkpoint, and the bytes that complete the files there (the open pattern interval's records,
/// the final `.npy` headers) with the summary and checkpoint of the run stopped at that moment.
///
/// A run killed outright (SIGKILL, a second signal, a node failure) leaves its staging folder;
/// `recover` turns it into the complete run folder of a run interrupted at the checkpoint: every
/// record file cut back to its length, completed, and the small files written. It only ever
/// truncates and rewrites the same bytes, so it can be repeated if it is itself killed.
/// `reluflow simulate --resume` then continues it as it continues any interrupted run.
public struct ResumePoint: Codable, Sendable {
    public static let fileName = "resume.json"

    /// The format this ReluFlow writes and reads (`recover` refuses a newer one).
    public static let currentFormatVersion = 1
    public var formatVersion = currentFormatVersion
    /// The checkpoint's time (the last sample's).
    public var t: Double
    /// The process that wrote it.
    public var pid: Int32
    /// Per record file (`RecordFiles.names` order): its length at the checkpoint; nil if absent.
    var lengths: [Int?]
    /// Per record file: the bytes to append after `lengths`, and the header to write at its start.
    var tails: [Data]
    var headers: [Data]
    var dropMatrices: Bool
    /// `summary.json` and `checkpoint.json` of the run interrupted at `t`.
    var summary: Data
    var checkpoint: Data

    /// The resume point in `folder`, if it holds one.
    public static func read(folder: String) -> ResumePoint? {
        guard let bytes = FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent(fileName)) else { return nil }
        return try? JSONDecoder().decode(ResumePoint.self, from: bytes)
    }

    /// Completes the staging folder `folder` into the run folder of the run interrupted at the
    /// checkpoint (the resume point stays until the folder is renamed or removed).
    public func recover(folder: String, field: String) throws {
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        guard formatVersion <= Self.currentFormatVersion else {
            throw InputError(field, "\(path(Self.fileName)) has format version \(formatVersion), newer than this ReluFlow's \(Self.currentFormatVersion)")
        }
        guard lengths.count == RecordFiles.names.count, tails.count == lengths.count, headers.count == lengths.count else {
            throw InputError(field, "\(path(Self.fileName)) is damaged (wrong number of files)")
        }
        for name in ["config.json", "data.csv"] where !FileManager.default.fileExists(atPath: path(name)) {
            throw InputError(field, "\(folder) has a resume point but no \(name): it cannot be resumed")
        }
        for (k, name) in RecordFiles.names.enumerated() {
            guard let length = lengths[k] else { continue }
            let file = path(name)
            if name == "pattern_matrices.npy" && dropMatrices { unlink(file); continue }
            let fd = open(file, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw FileError(path: file, action: "open", reason: String(cString: strerror(errno))) }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0, Int(info.st_size) >= length else {
                throw InputError(field, "\(file) is shorter than at the checkpoint: the folder cannot be resumed")
            }
            guard ftruncate(fd, off_t(length)) == 0, lseek(fd, 0, SEEK_END) >= 0 else {
                throw FileError(path: file, action: "write", reason: String(cString: strerror(errno)))
            }
            try tails[k].withUnsafeBytes { try RunFolder.writeAll($0, to: fd, path: file) }
            if !headers[k].isEmpty {
                try headers[k].withUnsafeBytes { raw in
                    guard pwrite(fd, raw.baseAddress, raw.count, 0) == raw.count else {
                        throw FileError(path: file, action: "write", reason: String(cString: strerror(errno)))
                    }
                }
            }
        }
        try RunFolder.writeFile(path("summary.json"), summary)
        try RunFolder.writeFile(path("checkpoint.json"), checkpoint)
    }

    /// The hidden staging folders that runs to `path` left (`.NAME.partial-PID` or `-PID-K` beside it) whose
    /// process no longer runs and which hold a resume point, newest checkpoint last.
    public static func abandoned(for path: String) -> [(folder: String, point: ResumePoint)] {
        let target = RunFolder.absolute(path)
        let parent = (target as NSString).deletingLastPathComponent
        let prefix = ".\((target as NSString).lastPathComponent).partial-"
        var found: [(String, ResumePoint)] = []
        for entry in RunFolder.entries(of: parent, withPrefixes: [prefix]) {
            let folder = (parent as NSString).appendingPathComponent(entry)
            guard let pid = RunFolder.stagingPid(entry.dropFirst(prefix.count)), RunFolder.stagingOwnerGone(folder, pid: pid) else { continue }
            if let point = read(folder: folder) { found.append((folder, point)) }
        }
        return found.sorted { $0.1.t < $1.1.t }
    }

    /// Staging folders of runs to `path` whose process is gone and which hold no resume point (killed
    /// before their first checkpoint).
    public static func unresumable(for path: String) -> [String] {
        let target = RunFolder.absolute(path)
        let parent = (target as NSString).deletingLastPathComponent
        let prefix = ".\((target as NSString).lastPathComponent).partial-"
        return RunFolder.entries(of: parent, withPrefixes: [prefix]).filter { entry in
            let folder = (parent as NSString).appendingPathComponent(entry)
            guard let pid = RunFolder.stagingPid(entry.dropFirst(prefix.count)), RunFolder.stagingOwnerGone(folder, pid: pid) else { return false }
            return read(folder: folder) == nil
        }.sorted()
    }

    /// For a staging folder `.NAME.partial-PID`: the run folder it was to become.
    public static func destination(ofStaging folder: String) -> String? {
        let absolute = RunFolder.absolute(folder)
        let name = (absolute as NSString).lastPathComponent
        guard name.hasPrefix("."), let range = name.range(of: ".partial-", options: .backwards),
              RunFolder.stagingPid(name[range.upperBound...]) != nil else { return nil }
        let target = String(name[name.index(after: name.startIndex)..<range.lowerBound])
        guard !target.isEmpty else { return nil }
        return ((absolute as NSString).deletingLastPathComponent as NSString).appendingPathComponent(target)
    }
}
