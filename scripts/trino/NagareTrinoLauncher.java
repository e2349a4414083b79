// The Trino server's entry point. Trino's tarball starts io.trino.server.TrinoServer
// (module trino-server-main), which Maven Central does not serve here; that class
// only checks the Java version and calls Server.start(version), which lives in
// trino-main (served). So the script assembles lib/ from trino-main's runtime
// dependencies and starts the server through this one-line launcher.
public final class NagareTrinoLauncher {
    public static void main(String[] args) {
        new io.trino.server.Server().start(System.getProperty("nagare.trino.version", "unknown"));
    }
}
