import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import javax.imageio.ImageIO;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/** Each route but / touches a part of the runtime that start-up does not load. */
public class Service {
    interface Route { String answer() throws Exception; }

    public static void main(String[] args) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(8080), 0);
        route(server, "/", () -> "Java sample\n");
        route(server, "/digest", () -> HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest("slim".getBytes(StandardCharsets.UTF_8))) + "\n");
        route(server, "/trust", () -> {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init((KeyStore) null);
            int n = ((X509TrustManager) tmf.getTrustManagers()[0]).getAcceptedIssuers().length;
            return "trusted issuers: " + (n > 50 ? "many" : String.valueOf(n)) + ", TLS " + SSLContext.getDefault().getProtocol() + "\n";
        });
        route(server, "/image", () -> {
            BufferedImage image = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
            image.setRGB(3, 3, 0x3366cc);
            ByteArrayOutputStream png = new ByteArrayOutputStream(), jpeg = new ByteArrayOutputStream();
            ImageIO.write(image, "png", png);
            ImageIO.write(image, "jpeg", jpeg);
            return "png " + (png.size() > 0) + ", jpeg " + (jpeg.size() > 0) + "\n";
        });
        route(server, "/zone", () -> DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm zzz").withZone(ZoneId.of("Asia/Tokyo")).format(Instant.parse("2026-07-01T12:00:00Z")) + "\n");
        route(server, "/charset", () -> HexFormat.of().formatHex("café €".getBytes("windows-1252")) + " " + HexFormat.of().formatHex("日本".getBytes("Shift_JIS")) + "\n");
        server.start();
        System.out.println("java service on :8080");
    }

    static void route(HttpServer server, String path, Route route) {
        server.createContext(path, exchange -> {
            if (!exchange.getRequestURI().getPath().equals(path)) { send(exchange, 404, "not found\n"); return; }
            try {
                send(exchange, 200, route.answer());
            } catch (Throwable e) {
                e.printStackTrace();
                send(exchange, 500, e + "\n");
            }
        });
    }

    static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(status, bytes.length);
        exchange.getResponseBody().write(bytes);
        exchange.close();
    }
}
