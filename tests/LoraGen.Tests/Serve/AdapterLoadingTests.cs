using System.Net;
using System.Text.Json;
using LoraGen.Cli.Serve;

namespace LoraGen.Tests.Serve;

/// <summary>vLLM's runtime routes: adapters load only from below --adapter-root (real paths), and answer as vLLM does.</summary>
public class AdapterLoadingTests() : TemporaryFolder("loragen-serve-adapters-")
{
    private string Root => Path.Combine(Folder.FullName, "root");

    private string Adapter(string under)
    {
        string folder = Directory.CreateDirectory(Path.Combine(under, "adapter")).FullName;
        File.WriteAllText(Path.Combine(folder, "adapter_config.json"), "{}");
        return folder;
    }

    private async Task<ServerClient> StartAsync(ScriptedModel model)
    {
        Directory.CreateDirectory(Root);
        return await ServerClient.StartAsync(model, new ServeOptions { AdapterRoot = Root });
    }

    [Fact]
    public async Task An_adapter_below_the_root_loads_is_listed_serves_and_unloads_with_vllms_replies()
    {
        var model = new ScriptedModel();
        await using var client = await StartAsync(model);
        string folder = Adapter(Path.Combine(Root, "team"));

        using (var loaded = await client.PostAsync("v1/load_lora_adapter", """{"lora_name": "sql", "lora_path": "team/adapter"}"""))
        {
            Assert.Equal(HttpStatusCode.OK, loaded.StatusCode);
            Assert.Equal("Success: LoRA adapter 'sql' added successfully.", await loaded.Content.ReadAsStringAsync());
        }
        Assert.Equal(folder, model.Adapters.Single().Folder);
        var cards = JsonDocument.Parse(await client.Http.GetStringAsync("v1/models")).RootElement.GetProperty("data");
        Assert.Equal("sql", cards[1].GetProperty("id").GetString());
        var body = await client.PostJsonAsync("v1/completions", """{"model": "sql", "prompt": "q", "max_tokens": 5}""");
        Assert.Equal("sql:q", body.GetProperty("choices")[0].GetProperty("text").GetString());

        using (var again = await client.PostAsync("v1/load_lora_adapter", $$"""{"lora_name": "sql", "lora_path": "{{folder}}"}"""))
            await ServerClient.AssertErrorAsync(again, HttpStatusCode.BadRequest, "lora_name");
        using (var unloaded = await client.PostAsync("v1/unload_lora_adapter", """{"lora_name": "sql"}"""))
            Assert.Equal("Success: LoRA adapter 'sql' removed successfully.", await unloaded.Content.ReadAsStringAsync());
        using (var gone = await client.PostAsync("v1/unload_lora_adapter", """{"lora_name": "sql"}"""))
            await ServerClient.AssertErrorAsync(gone, HttpStatusCode.NotFound, "lora_name");
        using (var unknown = await client.PostAsync("v1/completions", """{"model": "sql", "prompt": "q"}"""))
            await ServerClient.AssertErrorAsync(unknown, HttpStatusCode.NotFound, "model");
    }

    public static TheoryData<string> Escapes => ["dotdot", "absolute", "linked-folder", "linked-file", "linked-parent"];

    [Theory]
    [MemberData(nameof(Escapes))]
    public async Task A_path_that_leads_outside_the_root_is_refused(string escape)
    {
        var model = new ScriptedModel();
        await using var client = await StartAsync(model);
        string outside = Adapter(Path.Combine(Folder.FullName, "outside"));
        string path = escape switch
        {
            "dotdot" => "../outside/adapter",
            "absolute" => outside,
            "linked-folder" => Link(Path.Combine(Root, "link"), outside),
            "linked-file" => LinkedFile(outside),
            _ => Path.Combine(Link(Path.Combine(Root, "parent"), Path.Combine(Folder.FullName, "outside")), "adapter"),
        };
        using var response = await client.PostAsync("v1/load_lora_adapter", JsonSerializer.Serialize(new { lora_name = "x", lora_path = path }));
        await ServerClient.AssertErrorAsync(response, HttpStatusCode.Forbidden, "lora_path");
        Assert.Empty(model.Adapters);
    }

    [Theory]
    [InlineData("""{"lora_name": "x"}""", HttpStatusCode.BadRequest)]
    [InlineData("""{"lora_name": "x", "lora_path": 5}""", HttpStatusCode.BadRequest)]
    [InlineData("""{"lora_name": "x", "lora_path": "missing"}""", HttpStatusCode.NotFound)]
    [InlineData("""{"lora_name": "tiny-base", "lora_path": "."}""", HttpStatusCode.BadRequest)]
    [InlineData("""{"lora_name": "x", "lora_path": "."}""", HttpStatusCode.BadRequest)]       // no adapter_config.json: the model refuses the folder
    [InlineData("""{"lora_name": "x", "lora_path": ".", "load_inplace": true}""", HttpStatusCode.BadRequest)]
    public async Task A_bad_load_request_is_refused(string body, HttpStatusCode status)
    {
        await using var client = await StartAsync(new ScriptedModel());
        using var response = await client.PostAsync("v1/load_lora_adapter", body);
        await ServerClient.AssertErrorAsync(response, status);
    }

    private static string Link(string link, string target)
    {
        Directory.CreateSymbolicLink(link, target);
        return link;
    }

    /// <summary>A folder below the root whose weights file is a link to a file outside it.</summary>
    private string LinkedFile(string outside)
    {
        string folder = Adapter(Path.Combine(Root, "innocent"));
        File.WriteAllText(Path.Combine(outside, "secret"), "not yours");
        File.CreateSymbolicLink(Path.Combine(folder, "adapter_model.safetensors"), Path.Combine(outside, "secret"));
        return folder;
    }
}
