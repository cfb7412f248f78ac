using LoraGen.Models.Generation;
using LoraGen.Serving;
using Microsoft.Extensions.AI;

namespace LoraGen.Tests.Serving;

/// <summary>IChatClient over the served model, through Microsoft.Extensions.AI's abstractions only.</summary>
[Collection(ServingCollection.Name)]
public class ServedChatClientTests(ServingFolders folders)
{
    private static readonly ChatMessage[] Conversation = [new(ChatRole.System, "be brief"), new(ChatRole.User, "say hello")];

    [Fact]
    public void The_chat_template_renders_the_conversation_and_opens_the_assistant_turn()
    {
        using var served = ServedModel.Open(folders.Model);
        string prompt = served.ApplyChatTemplate([new("system", "be brief"), new("user", "say hello")]);
        Assert.Equal("<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nsay hello<|im_end|>\n<|im_start|>assistant\n", prompt);
        Assert.Equal(ServingFolders.ImStart, served.Encode(prompt)[0]);
        var odd = Assert.Throws<ServingException>(() => served.ApplyChatTemplate([new("tool", "42")]));
        Assert.Equal((ServingError.InvalidRequest, "messages"), (odd.Kind, odd.Parameter));
    }

    [Fact(Timeout = 120_000)]
    public async Task ModelId_picks_the_adapter_and_streaming_agrees_with_the_response()
    {
        using var served = ServedModel.Open(folders.Model);
        served.RegisterAdapter("tuned", folders.AdapterFolder(2));
        IChatClient client = new ServedChatClient(served);
        var options = new ChatOptions { ModelId = "tuned", MaxOutputTokens = 24 };

        var response = await client.GetResponseAsync(Conversation, options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation, options)) updates.Add(update);
        var streamed = updates.ToChatResponse();

        // What the served model generates for the same prompt with that adapter, and without it.
        string prompt = served.ApplyChatTemplate([new("system", "be brief"), new("user", "say hello")]);
        async Task<TextDelta[]> Direct(string? adapter) => await served.GenerateAsync(new TextRequest(prompt, adapter, new GenerationOptions(MaxNewTokens: 24))).ToArrayAsync();
        var tuned = await Direct("tuned");
        var plain = await Direct(null);
        string expected = string.Concat(tuned.Select(d => d.Text));
        Assert.NotEqual(expected, string.Concat(plain.Select(d => d.Text)));      // so the adapter's text below is the adapter's

        Assert.Equal(expected, response.Text);
        Assert.Equal(expected, streamed.Text);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        var finish = tuned[^1].FinishReason == "stop" ? ChatFinishReason.Stop : ChatFinishReason.Length;
        Assert.Equal(finish, response.FinishReason);
        Assert.Equal(finish, streamed.FinishReason);
        Assert.Equal((long)tuned[^1].PromptTokens, response.Usage?.InputTokenCount);
        Assert.Equal((long)tuned[^1].CompletionTokens, response.Usage?.OutputTokenCount);
        Assert.Equal((long)(tuned[^1].PromptTokens + tuned[^1].CompletionTokens), response.Usage?.TotalTokenCount);
        Assert.Equal("tuned", response.ModelId);
        Assert.True(updates.Count > 2, "the stream came in pieces");

        var baseResponse = await client.GetResponseAsync(Conversation, new ChatOptions { ModelId = served.BaseModelId, MaxOutputTokens = 24 });
        Assert.Equal(string.Concat(plain.Select(d => d.Text)), baseResponse.Text);
        var unknown = await Assert.ThrowsAsync<ServingException>(() => client.GetResponseAsync(Conversation, new ChatOptions { ModelId = "nobody", MaxOutputTokens = 4 }));
        Assert.Equal(ServingError.NotFound, unknown.Kind);
    }

    [Fact(Timeout = 120_000)]
    public async Task Sampling_options_map_onto_the_generation_and_a_seed_repeats_it()
    {
        using var served = ServedModel.Open(folders.Model);
        IChatClient client = new ServedChatClient(served);
        ChatOptions Sampled(long seed) => new() { Temperature = 1.5f, TopP = 0.95f, Seed = seed, MaxOutputTokens = 30 };
        var first = await client.GetResponseAsync(Conversation, Sampled(1));
        Assert.Equal(first.Text, (await client.GetResponseAsync(Conversation, Sampled(1))).Text);
        Assert.NotEqual(first.Text, (await client.GetResponseAsync(Conversation, Sampled(2))).Text);
        Assert.NotEqual(first.Text, (await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 30 })).Text);   // greedy
    }

    [Fact]
    public void GetService_gives_the_metadata_the_client_and_the_model()
    {
        using var served = ServedModel.Open(folders.Model);
        IChatClient client = new ServedChatClient(served);
        var metadata = client.GetService<ChatClientMetadata>();
        Assert.Equal(("loragen", served.BaseModelId), (metadata?.ProviderName, metadata?.DefaultModelId));
        Assert.Same(client, client.GetService<IChatClient>());
        Assert.Same(served, client.GetService<IServedModel>());
        Assert.Null(client.GetService<ChatClientMetadata>("some key"));
        Assert.Null(client.GetService(typeof(string)));
        Assert.Throws<ArgumentNullException>(() => client.GetService(null!));
    }
}
