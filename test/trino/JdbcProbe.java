// The Trino JDBC driver (io.trino:trino-jdbc, as DBeaver uses it) against
// Nagare's Trino endpoint: metadata browser calls, a TopN, and a
// PreparedStatement with timestamp parameters. Run by test/trino-clients.test.ts
// as a single-file source program: java -cp trino-jdbc.jar JdbcProbe.java URL USER START END TOPN
// (password in NAGARE_PASSWORD). Prints one line per check: "name<TAB>value".
import java.sql.*;
import java.util.*;

public class JdbcProbe {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.setProperty("user", args[1]);
    p.setProperty("password", System.getenv("NAGARE_PASSWORD"));
    p.setProperty("SSL", "true");
    p.setProperty("SSLVerification", "NONE");
    try (Connection c = DriverManager.getConnection(args[0], p)) {
      DatabaseMetaData md = c.getMetaData();
      List<String> catalogs = new ArrayList<>();
      try (ResultSet rs = md.getCatalogs()) { while (rs.next()) catalogs.add(rs.getString("TABLE_CAT")); }
      System.out.println("catalogs\t" + String.join(",", catalogs));
      List<String> tables = new ArrayList<>();
      try (ResultSet rs = md.getTables("nagare", "default", "%", null)) { while (rs.next()) tables.add(rs.getString("TABLE_NAME")); }
      System.out.println("tables\t" + String.join(",", tables));
      List<String> cols = new ArrayList<>();
      try (ResultSet rs = md.getColumns("nagare", "default", "flows", "%")) {
        while (rs.next()) cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":" + rs.getInt("DATA_TYPE"));
      }
      System.out.println("columns\t" + String.join(";", cols));
      List<String> top = new ArrayList<>();
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(args[4])) {
        while (rs.next()) top.add(rs.getInt(1) + ":" + rs.getBigDecimal(2).toPlainString());
      }
      System.out.println("topn\t" + String.join(",", top));
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT count(*) AS n, sum(bytes) AS bytes FROM flows WHERE time_received >= ? AND time_received < ?")) {
        ps.setTimestamp(1, Timestamp.valueOf(args[2]));
        ps.setTimestamp(2, Timestamp.valueOf(args[3]));
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          System.out.println("range\t" + rs.getLong(1) + ":" + rs.getBigDecimal(2).toPlainString());
        }
      }
    }
  }
}
