// The PrestoSQL server's entry point. The tarball starts io.prestosql.server.PrestoServer
// (module presto-server-main, not served by Maven Central here); that class only
// checks the Java version and calls Server.start(version), which lives in
// presto-main (served). So run.sh assembles lib/ from presto-main's runtime
// dependencies and starts the server through this one-line launcher (the same
// trick as scripts/trino/NagareTrinoLauncher.java).
public final class NagarePrestoLauncher {
    public static void main(String[] args) {
        new io.prestosql.server.Server().start(System.getProperty("nagare.presto.version", "unknown"));
    }
}
