import Foundation

/// Writes a run folder (INTERFACE.md "Run folder") all at once: every file goes into a hidden
/// sibling folder first, which is renamed into place at the end, so a folder appears complete
/// or not at all. An existing run folder at the same place is replaced; any other existing,
/// non-empty folder is refused.
public enum RunFolder {
    /// Checks before a run that `path` can receive a run folder (throws `InputError` for `--out`).
    public static func checkDestination(_ path: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw InputError("--out", "\(path) exists and is a file") }
            let contents = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            if !contents.isEmpty && !contents.contains("summary.json") {
                throw InputError("--out", "\(path) exists and is not a ReluFlow run folder (no summary.json); refusing to overwrite it")
            }
        }
        let parent = (absolute(path) as NSString).deletingLastPathComponent
        if !fm.fileExists(atPath: parent) {
            do { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
                throw InputError("--out", "cannot create \(parent): \(error.localizedDescription)")
            }
        }
        guard fm.isWritableFile(atPath: parent) else { throw InputError("--out", "\(parent) is not writable") }
    }

    /// Writes `files` (name → bytes) as the folder `path`.
    public static func write(_ files: [(String, Data)], to path: String) throws {
        let staging = try stage(path)
        do {
            for (file, bytes) in files {
                try writeFile((staging as NSString).appendingPathComponent(file), bytes)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        try commit(staging, to: path)
    }

    /// Creates the hidden staging folder for the run folder `path` (a sibling of it) and returns its path.
    static func stage(_ path: String) throws -> String {
        let fm = FileManager.default
        let target = absolute(path)
        let parent = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let staging = (parent as NSString).appendingPathComponent(".\(name).partial-\(getpid())")
        try? fm.removeItem(atPath: staging)
        removeAbandoned(name, in: parent)
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: false)
        return staging
    }

    /// Removes staging (and replaced) folders of `name` left by processes that no longer run: a
    /// run killed outright (a second Ctrl-C, SIGKILL, a crash) cannot remove its own.
    static func removeAbandoned(_ name: String, in parent: String) {
        let fm = FileManager.default
        for entry in (try? fm.contentsOfDirectory(atPath: parent)) ?? [] {
            for prefix in [".\(name).partial-", ".\(name).old-"] where entry.hasPrefix(prefix) {
                guard let pid = Int32(entry.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
                try? fm.removeItem(atPath: (parent as NSString).appendingPathComponent(entry))
            }
        }
    }

    /// Renames a complete staging folder into place as `path`, replacing an earlier run folder there.
    /// On failure the staging folder is removed.
    static func commit(_ staging: String, to path: String) throws {
        let fm = FileManager.default
        let target = absolute(path)
        let parent = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        do {
            if fm.fileExists(atPath: target) {
                let old = (parent as NSString).appendingPathComponent(".\(name).old-\(getpid())")
                try? fm.removeItem(atPath: old)
                try fm.moveItem(atPath: target, toPath: old)
                try fm.moveItem(atPath: staging, toPath: target)
                try? fm.removeItem(atPath: old)
            } else {
                try fm.moveItem(atPath: staging, toPath: target)
            }
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }

    /// Adds or replaces files in an existing run folder, each written to a temporary name and
    /// renamed into place (a reader sees the old file or the new one, never a part).
    public static func add(_ files: [(String, Data)], to folder: String) throws {
        for (file, bytes) in files {
            let target = (folder as NSString).appendingPathComponent(file)
            let temporary = (folder as NSString).appendingPathComponent(".\(file).partial-\(getpid())")
            do {
                try writeFile(temporary, bytes)
                guard rename(temporary, target) == 0 else { throw RunFolderError(path: target, reason: String(cString: strerror(errno))) }
            } catch {
                unlink(temporary)
                throw error
            }
        }
    }

    /// One file with plain POSIX calls (Foundation's `Data.write` costs about 0.5 ms per file on
    /// Linux, which is most of the export time of a short run).
    static func writeFile(_ path: String, _ bytes: Data) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunFolderError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeAll($0, to: fd, path: path) }
    }

    /// Writes all of `raw` to the open file `fd` (retrying short writes and EINTR); `path` names
    /// it in the error.
    static func writeAll(_ raw: UnsafeRawBufferPointer, to fd: Int32, path: String) throws {
        var offset = 0
        while offset < raw.count {
            let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw RunFolderError(path: path, reason: String(cString: strerror(errno)))
            }
            offset += written
        }
    }

    static func absolute(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return (expanded as NSString).standardizingPath }
        return ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(expanded) as NSString).standardizingPath
    }
}

/// A file of the run folder could not be written.
struct RunFolderError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot write \(path): \(reason)" }
}
