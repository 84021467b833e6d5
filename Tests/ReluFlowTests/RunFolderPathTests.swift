import Foundation
import XCTest
@testable import ReluFlow

/// The output checks' path helpers give exactly what the Foundation calls they replace give
/// (issue 22: `RunFolder.absolute` without Foundation's path machinery for paths without links,
/// `exists`, `status` and `currentDirectory` without FileManager). The safety checks compare these
/// paths (the current folder and its ancestors, the home folder, a replaced folder's parent), so
/// any difference is a change of what is refused: the comparisons are exact string equality.
final class RunFolderPathTests: XCTestCase {
    var dir: URL!
    var previous = ""

    override func setUpWithError() throws {
        dir = try temporaryDirectory()
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("real/sub"), withIntermediateDirectories: true)
        try "x".write(to: dir.appendingPathComponent("file.txt"), atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("linkabs").path, withDestinationPath: dir.appendingPathComponent("real").path)
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("linkrel").path, withDestinationPath: "real")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("real/up").path, withDestinationPath: "..")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("chain").path, withDestinationPath: "linkrel")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("dangling").path, withDestinationPath: "nowhere")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("loop").path, withDestinationPath: "loop")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("real/sub/deep").path, withDestinationPath: "../../linkrel/sub")
        previous = fm.currentDirectoryPath
    }

    override func tearDownWithError() throws {
        FileManager.default.changeCurrentDirectoryPath(previous)
        try? FileManager.default.removeItem(at: dir)
    }

    /// Relative spellings, with and without links, `.`/`..`, repeated and trailing slashes, `~`,
    /// non-ASCII names and the prefixes Foundation strips.
    static let relative = [
        "", " ", ".", "./", "..", "../..", "../../..", "a", "a/", "a//b", "a/./b", "a/../b", "a/b/../../..", "./a/.", "runs/sine",
        ".hidden/x", "..a/b", "a/..b", "...", "real", "real/", "real/sub", "real/sub/..", "real/sub/../..", "real/./sub//",
        "linkabs", "linkabs/", "linkabs/sub", "linkabs/sub/..", "linkrel/sub/..", "linkrel/../x", "chain", "chain/sub",
        "dangling", "dangling/x", "loop", "loop/x", "real/up", "real/up/real", "real/sub/deep", "real/sub/deep/..",
        "file.txt", "file.txt/x", "file.txt/..", "new/folder/..", "~", "~/", "~/x", "~root/x", "~no-such-user-rf/x", "a~/b",
        "é/ß", "a\u{301}/b", "/\u{301}x", "x/\u{301}", "a b/c", "a\nb", "x\r\ny", "tab\there",
    ]

    static let absolute = [
        "/", "//", "///x//", "/.", "/..", "/../x", "/./x/../y", "/tmp/../..", "/tmp", "/tmp/", "/private", "/private/x",
        "/privatex", "/private/tmp", "/var/automount", "/var/automount/x", "/var/automountx", "/proc/self", "/proc/self/fd",
        "/bin", "/bin/sh", "/usr/bin/../lib", "/lib64", "/no/such/path/at/all", "/dev/null", "/dev/null/x", "/root/../etc",
    ]

    func testAbsoluteIsFoundationsStandardizedPath() throws {
        let base = dir.path
        var fast = 0
        for cwd in [base, base + "/real", base + "/linkrel", base + "/real/sub/deep", "/"] {
            XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(cwd), cwd)
            for path in Self.relative + Self.absolute + Self.relative.map({ base + "/" + $0 }) + Self.relative.map({ base + "//" + $0 + "/" }) {
                let expected = RunFolder.absoluteByFoundation(path)
                XCTAssertEqual(RunFolder.absolute(path), expected, "'\(path)' in \(cwd)")
                if RunFolder.absoluteWithoutLinks(path) != nil { fast += 1 }
            }
        }
        // The direct path is the one taken where there are no links (this test's folder is
        // reached without one on Linux; elsewhere, e.g. /tmp → /private/tmp, it is not asserted).
        if let real = realpath(base, nil) {
            defer { free(real) }
            if String(cString: real) == base {
                XCTAssertNotNil(RunFolder.absoluteWithoutLinks(base + "/real/./sub/../x//"))
                XCTAssertNil(RunFolder.absoluteWithoutLinks(base + "/linkrel/x"))
                XCTAssertGreaterThan(fast, 100)
            }
        }
    }

    /// (The tests change the process's current folder and restore it in tearDown: XCTest runs them
    /// one at a time.)
    /// `exists` and `status` are FileManager's `fileExists(atPath:)` and
    /// `fileExists(atPath:isDirectory:)`; `currentDirectory` its `currentDirectoryPath`.
    func testFileChecksAreFileManagers() throws {
        let fm = FileManager.default
        let base = dir.path
        XCTAssertTrue(fm.changeCurrentDirectoryPath(base))
        // A NUL inside (possible from a JSON config): FileManager reads the path up to it, and so do these.
        let withNUL = ["/bin\u{0}x", base + "\u{0}", "real\u{0}/sub"]
        for path in Self.relative + Self.absolute + Self.relative.map({ base + "/" + $0 }) + withNUL {
            var isDirectory: ObjCBool = false
            let found = fm.fileExists(atPath: path, isDirectory: &isDirectory)
            XCTAssertEqual(RunFolder.exists(path), fm.fileExists(atPath: path), path)
            XCTAssertEqual(RunFolder.status(path).exists, found, path)
            XCTAssertEqual(RunFolder.status(path).isDirectory, found && isDirectory.boolValue, path)
        }
        for cwd in [base, base + "/real/sub", base + "/linkrel", "/"] {
            XCTAssertTrue(fm.changeCurrentDirectoryPath(cwd))
            XCTAssertEqual(RunFolder.currentDirectory(), fm.currentDirectoryPath)
        }
    }
}
