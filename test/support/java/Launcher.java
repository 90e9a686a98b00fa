import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.message.MongoMessage;
import de.bwaldvogel.mongo.wire.message.MongoQuery;
import io.netty.channel.Channel;
import java.net.InetSocketAddress;

/**
 * Starts mongo-java-server (in-memory backend) on 127.0.0.1:<port> (0 = any free port), prints
 * "PORT <n>" and runs until its stdin closes, so a crashed test run leaves no orphan server.
 *
 * <p>The server reports wire version 8 (MongoDB 4.2); Node driver 7.6+ refuses anything below 9.
 * The handshake reply is raised to 13 (MongoDB 5.0); every command we use works the same.
 */
public class Launcher {
  static final int WIRE_VERSION = 13;

  static Document raise(Document reply) {
    if (reply != null && reply.containsKey("maxWireVersion")) {
      reply.put("maxWireVersion", WIRE_VERSION);
    }
    return reply;
  }

  static class Backend extends MemoryBackend {
    @Override
    public Document handleCommand(Channel channel, String db, String command, Document query) {
      return raise(super.handleCommand(channel, db, command, query));
    }

    @Override
    public Document handleMessage(MongoMessage message) {
      return raise(super.handleMessage(message));
    }

    @Override
    public QueryResult handleQuery(MongoQuery query) {
      QueryResult result = super.handleQuery(query);
      for (Document doc : result) {
        raise(doc);
      }
      return result;
    }
  }

  public static void main(String[] args) throws Exception {
    int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
    MongoServer server = new MongoServer(new Backend());
    server.bind(new InetSocketAddress("127.0.0.1", port));
    System.out.println("PORT " + server.getLocalAddress().getPort());
    System.out.flush();
    while (System.in.read() != -1) {
      // wait for the parent to close stdin
    }
    server.shutdownNow();
    System.exit(0);
  }
}
