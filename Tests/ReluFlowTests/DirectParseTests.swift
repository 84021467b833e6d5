import Foundation
import XCTest
@testable import reluflow

/// simulate, train and curvature are parsed as roots of their own when their arguments are valid
/// (`ReluflowCommand.parseSubcommandDirectly`), naming `reluflow` as their super-command so that
/// ArgumentParser skips its completion-script re-parses (issue 22). What a user sees must not
/// change: help, usage errors and `--generate-completion-script` still come from the full parse.
final class DirectParseTests: XCTestCase {
    func testHelpUsageErrorsAndCompletionsAreThoseOfTheFullParse() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["simulate", "train", "curvature"] {
            let help = try runReluflow([name, "--help"], in: dir)
            XCTAssertEqual(help.status, 0, name)
            XCTAssertTrue(help.stdout.contains("USAGE: reluflow \(name) "), "\(name) --help: \(help.stdout.prefix(400))")
            XCTAssertFalse(help.stdout.contains("reluflow reluflow"), name)

            let bad = try runReluflow([name, "--no-such-option"], in: dir)
            XCTAssertEqual(bad.status, 2, name)
            XCTAssertTrue(bad.stderr.contains("Unknown option '--no-such-option'"), "\(name): \(bad.stderr)")
            XCTAssertTrue(bad.stderr.contains("Usage: reluflow \(name) "), "\(name): \(bad.stderr)")
        }
        let script = try runReluflow(["simulate", "--generate-completion-script", "bash"], in: dir)
        XCTAssertEqual(script.status, 0)
        XCTAssertTrue(script.stdout.hasPrefix("#!/bin/bash"), String(script.stdout.prefix(200)))
        XCTAssertTrue(script.stdout.contains("simulate"))
    }
}

/// `simulate`'s plain arguments are read without swift-argument-parser
/// (`SimulateCommand.parsePlain`, issue 22); the command it builds must be the one the full parse
/// builds, option by option, and every other form must be left to the full parse.
final class PlainSimulateParseTests: XCTestCase {
    private func fields(_ c: SimulateOptions) -> [String] {
        let values: [Any?] = [c.config, c.example, c.out, c.resume, c.T, c.rtol, c.atol, c.stepper, c.samples?.value, c.spacing,
                              c.seed, c.width?.value, c.initScheme, c.scale, c.biasScale, c.maxEvents?.value, c.checkpointEvery,
                              c.maxRhsEvaluations?.value, c.maxWallSeconds, c.quiet, c.allowLarge]
        return values.map { String(describing: $0) }
    }

    func testPlainArgumentsGiveTheFullParsesCommand() throws {
        let cases: [[String]] = [
            [],
            ["--example", "sine", "--quiet"],
            ["--example", "sine", "--T", "1e5", "--quiet", "--out", "runs/x"],
            ["--quiet", "--T", "0.001", "--example", "teacher"],
            ["--config", "a.json", "--rtol", "1e-8", "--atol", "1e-11", "--stepper", "msbdf", "--samples", "1e3",
             "--spacing", "linear", "--seed", "7", "--width", "12", "--init-scheme", "xavier", "--scale", "0.5",
             "--bias-scale", "0", "--max-events", "100", "--checkpoint-every", "0", "--allow-large"],
            ["--example", "sine", "--max-rhs-evaluations", "2e5", "--max-wall-seconds", "30", "--quiet"],
            ["--resume", "runs/sine", "--T", "inf"],
            ["--seed", "abc", "--samples", "2.0e2"],
        ]
        for arguments in cases {
            let plain = try XCTUnwrap(SimulateCommand.parsePlain(arguments[...]), "\(arguments)")
            let full = try SimulateCommand.parse(arguments).options
            XCTAssertEqual(fields(plain), fields(full), "\(arguments)")
        }
        // Left to the full parse (its help, errors and last-one-wins rules): nil.
        let others: [[String]] = [
            ["--T=5"], ["--T", "-5"], ["--help"], ["-h"], ["--example"], ["--example", "sine", "--example", "teacher"],
            ["--quiet", "--quiet"], ["--samples", "2.5"], ["--T", "x"], ["--no-such-option", "1"], ["sine"], ["--out", ""],
            ["--generate-completion-script", "bash"], ["--version"],
        ]
        for arguments in others {
            XCTAssertNil(SimulateCommand.parsePlain(arguments[...]), "\(arguments)")
        }
    }
}
