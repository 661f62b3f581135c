// An application of your own that also pushes RabbitMQ messages to browsers: the gateway is two lines.
var builder = WebApplication.CreateBuilder(args);

// The gateway's settings live in the "Eventsourced" section (appsettings.json, or environment variables
// such as Eventsourced__broker__node__0=amqp://user:pass@rabbit:5672/), with the keys of config.yml-dist.
builder.Services.AddEventsourced(builder.Configuration.GetSection("Eventsourced"));

// Optional: acknowledge to RabbitMQ only what the client's TCP has received, and drop vanished clients.
builder.WebHost.ConfigureKestrel(kestrel => kestrel.UseEventsourcedConnections(TimeSpan.FromSeconds(30)));

var app = builder.Build();

app.MapGet("/", () => Results.Content(
    "<!doctype html><title>eventsourced in an application</title><pre id=log></pre><script>" +
    "const id = new URLSearchParams(location.search).get('id') || '42';" +
    "new EventSource('/events?id=' + encodeURIComponent(id)).onmessage = e => log.textContent += e.data + '\\n';" +
    "</script>",
    "text/html"));

// The stream: GET /events?id=42 reads the queue "42" (queue.pattern).
app.MapEventsourced("/events");

app.Run();
